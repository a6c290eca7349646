"""SSRF-safe outbound HTTP against a real local server; DNS answers are injected, never looked up."""

from __future__ import annotations

import ipaddress

import pytest

from opora.kit import safe_http
from opora.kit.safe_http import OutboundPolicy, Refused
from tests.automation.receiver import Answer, running_receiver

LOCAL = safe_http.parse_allow_list(["127.0.0.1/32"])


def resolver_for(table: dict[str, list[str]]) -> safe_http.Resolver:
    calls: list[str] = []

    async def resolve(host: str, _port: int) -> list[str]:
        calls.append(host)
        if host not in table:
            raise OSError("no such host")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # the cloud metadata service
        "0.0.0.0",
        "100.64.0.1",  # carrier-grade NAT
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
    ],
)
def test_private_and_reserved_addresses_are_forbidden(address: str) -> None:
    assert safe_http.is_forbidden(ipaddress.ip_address(address))
    with pytest.raises(Refused):
        safe_http.check_address(address, ())


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2a00:1450:4001:80b::200e"])
def test_public_addresses_pass(address: str) -> None:
    assert not safe_http.is_forbidden(ipaddress.ip_address(address))


def test_the_allow_list_lets_a_private_network_through() -> None:
    allow = safe_http.parse_allow_list(["10.0.0.0/8"])
    assert str(safe_http.check_address("10.20.30.40", allow)) == "10.20.30.40"
    with pytest.raises(Refused):
        safe_http.check_address("192.168.0.1", allow)
    with pytest.raises(ValueError, match="not an IP"):
        safe_http.parse_allow_list(["intranet.local"])


async def test_loopback_is_refused_by_default_and_nothing_reaches_it() -> None:
    async with running_receiver() as receiver:
        with pytest.raises(Refused, match=r"127\.0\.0\.1"):
            await safe_http.request("GET", f"{receiver.base}/x", policy=OutboundPolicy())
        assert receiver.received == []


async def test_an_allowed_local_server_is_reached() -> None:
    async with running_receiver() as receiver:
        receiver.answer("/hook", Answer(201, b"thanks"))
        result = await safe_http.request(
            "POST", f"{receiver.base}/hook", policy=OutboundPolicy(allow=LOCAL), content=b'{"a":1}'
        )
    assert result.status_code == 201
    assert result.body == b"thanks"
    assert receiver.received[0].body == b'{"a":1}'


async def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    resolve = resolver_for({"evil.example": ["10.0.0.5"], "mixed.example": ["93.184.216.34", "127.0.0.1"]})
    for host in ("evil.example", "mixed.example"):
        with pytest.raises(Refused):
            await safe_http.request("GET", f"http://{host}/", policy=OutboundPolicy(), resolver=resolve)


async def test_the_connection_goes_to_the_checked_address_with_the_original_host_header() -> None:
    # The name exists only in our resolver: the connection can only have used the checked answer.
    async with running_receiver() as receiver:
        resolve = resolver_for({"crm.shop.test": ["127.0.0.1"]})
        result = await safe_http.request(
            "GET",
            f"http://crm.shop.test:{receiver.port}/p",
            policy=OutboundPolicy(allow=LOCAL),
            resolver=resolve,
        )
    assert result.status_code == 200
    assert receiver.received[0].headers["host"] == f"crm.shop.test:{receiver.port}"


async def test_redirects_are_not_followed_unless_allowed_and_each_hop_is_checked() -> None:
    async with running_receiver() as receiver:
        receiver.answer("/away", Answer(302, b"", {"Location": "http://10.0.0.1/admin"}))
        receiver.answer("/here", Answer(302, b"", {"Location": "/final"}))
        receiver.answer("/final", Answer(200, b"done"))
        plain = await safe_http.request("GET", f"{receiver.base}/away", policy=OutboundPolicy(allow=LOCAL))
        assert plain.status_code == 302
        following = OutboundPolicy(allow=LOCAL, max_redirects=2)
        with pytest.raises(Refused, match=r"10\.0\.0\.1"):
            await safe_http.request("GET", f"{receiver.base}/away", policy=following)
        result = await safe_http.request("GET", f"{receiver.base}/here", policy=following)
    assert (result.status_code, result.body) == (200, b"done")
    assert result.redirects == [f"{receiver.base}/here"]


async def test_the_response_is_cut_at_the_size_cap() -> None:
    async with running_receiver() as receiver:
        receiver.answer("/big", Answer(200, b"x" * 10_000))
        result = await safe_http.request(
            "GET", f"{receiver.base}/big", policy=OutboundPolicy(allow=LOCAL, max_response_bytes=100)
        )
    assert len(result.body) == 100
    assert result.truncated


async def test_a_slow_server_hits_the_timeout() -> None:
    async with running_receiver() as receiver:
        receiver.answer("/slow", Answer(200, b"late", delay=2.0))
        policy = OutboundPolicy(allow=LOCAL, read_timeout=0.3, total_timeout=0.5)
        with pytest.raises(safe_http.OutboundError):
            await safe_http.request("GET", f"{receiver.base}/slow", policy=policy)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "http:///nohost"])
async def test_other_schemes_and_hostless_urls_are_refused(url: str) -> None:
    with pytest.raises(Refused):
        await safe_http.request("GET", url, policy=OutboundPolicy())


async def test_a_closed_port_is_a_network_error_not_a_crash() -> None:
    async with running_receiver() as receiver:
        port = receiver.port
    with pytest.raises(safe_http.OutboundError):
        await safe_http.request("GET", f"http://127.0.0.1:{port}/", policy=OutboundPolicy(allow=LOCAL))
