"""Outbound HTTP to addresses that admins type in (webhooks, integrations) without SSRF.

A URL typed by an admin must not become a way into the desk's own network: the metadata service
of the cloud, a database on localhost, the router. So every connection this module opens goes
through :class:`_CheckedBackend`, which resolves the host itself, refuses the request unless
*every* address is public (or explicitly allowed), and then connects to the very address it
checked. A DNS answer that changes between the check and the connect (rebinding) cannot swap the
destination, because no second lookup happens. Redirects are followed by hand, at most
``max_redirects`` of them, and each hop goes through the same check. TLS still verifies the
certificate against the host name: httpcore sends the original name as SNI.

Responses are read up to ``max_response_bytes`` (the rest is dropped, ``truncated`` says so), and
the whole exchange is bounded by ``total_timeout`` so that a server dripping one byte at a time
cannot hold a worker forever.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


class OutboundError(Exception):
    """The request could not be made or completed (network error, timeout, bad URL)."""


class Refused(OutboundError):
    """The destination is not allowed: a private or reserved address, or a bad scheme."""


def parse_allow_list(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``["127.0.0.1", "10.0.0.0/8", "::1"]`` → networks; raises ValueError naming a bad entry."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"{entry!r} is not an IP address or network") from exc
    return tuple(networks)


def is_forbidden(address: IPAddress) -> bool:
    """Addresses no webhook should reach by default."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_forbidden(address.ipv4_mapped)
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def check_address(raw: str, allow: Sequence[IPNetwork]) -> IPAddress:
    address = ipaddress.ip_address(raw.split("%", 1)[0])  # drop an IPv6 zone id
    if any(address in network for network in allow):
        return address
    if is_forbidden(address):
        raise Refused(f"{address} is a private or reserved address and is not on the allow-list")
    return address


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class OutboundPolicy:
    allow: tuple[IPNetwork, ...] = ()
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 20.0
    max_response_bytes: int = 256 * 1024
    max_redirects: int = 0
    verify: ssl.SSLContext | bool = True


@dataclass(frozen=True)
class HttpResult:
    status_code: int
    headers: httpx.Headers
    body: bytes
    truncated: bool
    url: str
    duration_ms: int
    redirects: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that connects only to checked addresses."""

    def __init__(self, allow: Sequence[IPNetwork], resolver: Resolver) -> None:
        self._allow = tuple(allow)
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._addresses(host, port)
        # Every answer must pass: a name with one public and one private record is refused.
        checked = [check_address(str(a), self._allow) for a in addresses]
        return await self._inner.connect_tcp(
            str(checked[0]), port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def _addresses(self, host: str, port: int) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            pass
        try:
            resolved = await self._resolver(host, port)
        except OSError as exc:
            raise Refused(f"cannot resolve {host!r}: {exc}") from exc
        if not resolved:
            raise Refused(f"{host!r} has no address")
        return [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise Refused("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (httpcore.ConnectTimeout, "connect timeout"),
    (httpcore.ReadTimeout, "read timeout"),
    (httpcore.WriteTimeout, "write timeout"),
    (httpcore.PoolTimeout, "pool timeout"),
    (httpcore.ConnectError, "connection failed"),
    (httpcore.ReadError, "read failed"),
    (httpcore.WriteError, "write failed"),
    (httpcore.RemoteProtocolError, "protocol error"),
    (httpcore.UnsupportedProtocol, "unsupported protocol"),
    (httpcore.ProtocolError, "protocol error"),
    (httpcore.NetworkError, "network error"),
)


class _CheckedTransport(httpx.AsyncBaseTransport):
    def __init__(self, policy: OutboundPolicy, resolver: Resolver) -> None:
        context = policy.verify if isinstance(policy.verify, ssl.SSLContext) else ssl.create_default_context()
        if policy.verify is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=4,
            network_backend=_CheckedBackend(policy.allow, resolver),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = await self._pool.handle_async_request(core_request)
        except Refused:
            raise
        except Exception as exc:
            for kind, label in _ERRORS:
                if isinstance(exc, kind):
                    raise OutboundError(f"{label}: {exc}") from exc
            raise
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Stream(response),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class _Stream(httpx.AsyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    async def __aiter__(self) -> Any:
        try:
            async for chunk in self._response.aiter_stream():
                yield chunk
        except httpcore.TimeoutException as exc:
            raise OutboundError(f"read timeout: {exc}") from exc
        except httpcore.NetworkError as exc:
            raise OutboundError(f"read failed: {exc}") from exc

    async def aclose(self) -> None:
        await self._response.aclose()


def _check_url(url: httpx.URL) -> None:
    if url.scheme not in ("http", "https"):
        raise Refused(f"scheme {url.scheme!r} is not allowed; use http or https")
    if not url.host:
        raise Refused("the URL has no host")


async def request(
    method: str,
    url: str,
    *,
    policy: OutboundPolicy,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    resolver: Resolver | None = None,
) -> HttpResult:
    """Make one request (plus allowed redirects) under ``policy``; never raises for a 4xx/5xx.

    Raises :class:`Refused` for a forbidden destination and :class:`OutboundError` for network
    errors and timeouts.
    """
    started = time.monotonic()
    transport = _CheckedTransport(policy, resolver or system_resolver)
    timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
    # trust_env=False: proxy variables of the process must not route around the check.
    async with httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    ) as client:
        try:
            async with asyncio.timeout(policy.total_timeout):
                return await _exchange(client, method, httpx.URL(url), policy, headers, content, started)
        except TimeoutError as exc:
            raise OutboundError(f"no complete answer within {policy.total_timeout:g}s") from exc
        except httpx.InvalidURL as exc:
            raise Refused(f"invalid URL: {exc}") from exc
        except httpx.HTTPError as exc:
            raise OutboundError(f"{exc.__class__.__name__}: {exc}") from exc


async def _exchange(
    client: httpx.AsyncClient,
    method: str,
    url: httpx.URL,
    policy: OutboundPolicy,
    headers: Mapping[str, str] | None,
    content: bytes | None,
    started: float,
) -> HttpResult:
    hops: list[str] = []
    while True:
        _check_url(url)
        async with client.stream(method, url, headers=headers, content=content) as response:
            location = response.headers.get("location")
            if response.status_code in REDIRECT_CODES and location and len(hops) < policy.max_redirects:
                hops.append(str(url))
                url = url.join(location)
                if response.status_code == 303 or (
                    response.status_code in (301, 302) and method.upper() == "POST"
                ):
                    method, content = "GET", None
                continue
            body = bytearray()
            truncated = False
            async for chunk in response.aiter_raw():
                room = policy.max_response_bytes - len(body)
                if len(chunk) > room:
                    body.extend(chunk[:room])
                    truncated = True
                    break
                body.extend(chunk)
            return HttpResult(
                status_code=response.status_code,
                headers=response.headers,
                body=bytes(body),
                truncated=truncated,
                url=str(url),
                duration_ms=round((time.monotonic() - started) * 1000),
                redirects=hops,
            )
