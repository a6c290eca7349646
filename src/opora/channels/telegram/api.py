"""The few Bot API calls Opora makes, as plain HTTP with httpx (no SDK).

Every method is ``POST {api_base_url}/bot<token>/<method>`` and answers
``{"ok": true, "result": …}`` or ``{"ok": false, "error_code": …, "description": …,
"parameters": {"retry_after": …}}``. :class:`TelegramError` carries what the caller needs to decide:
whether trying again can help and after how long.

The token is part of every URL, so it is scrubbed from our error texts and from httpx's own request
log lines: a log file must never be enough to take over the shop's bot.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from opora.channels.telegram.config import TelegramSettings

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
# getUpdates holds the request open for poll_timeout seconds; the read timeout must outlast it.
LONG_POLL_MARGIN = 15.0
_TOKEN_IN_URL = re.compile(r"/(file/)?bot[0-9]+:[A-Za-z0-9_-]+")


class TelegramError(Exception):
    """A failed call. ``status`` 0 means no answer at all (network error, timeout)."""

    def __init__(
        self,
        description: str,
        *,
        status: int,
        retry_after: float | None = None,
        retriable: bool | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.status = status
        self.retry_after = retry_after
        self.retriable = (status == 0 or status == 429 or status >= 500) if retriable is None else retriable

    def __str__(self) -> str:
        prefix = f"Telegram {self.status}" if self.status else "Telegram unreachable"
        return f"{prefix}: {self.description}"


def redact(text: str) -> str:
    return _TOKEN_IN_URL.sub(lambda m: f"/{m.group(1) or ''}bot<token>", text)


class _RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/bot" in message:
            record.msg, record.args = redact(message), ()
        return True


logging.getLogger("httpx").addFilter(_RedactTokens())


class BotApi:
    """One bot's API. Use as ``async with BotApi(settings) as api:`` so the connection pool closes."""

    def __init__(
        self, settings: TelegramSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
            transport=transport,
            follow_redirects=False,
        )

    async def __aenter__(self) -> BotApi:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _url(self, method: str) -> str:
        return f"{self.settings.api_base_url}/bot{self.settings.token}/{method}"

    async def call(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        read_timeout: float = READ_TIMEOUT,
    ) -> Any:
        """The method's ``result``, or TelegramError."""
        timeout = httpx.Timeout(read_timeout, connect=CONNECT_TIMEOUT)
        try:
            if files:
                # Multipart fields are strings; nested values (reply_parameters, …) travel as JSON.
                form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (params or {}).items()}
                response = await self._http.post(self._url(method), data=form, files=files, timeout=timeout)
            else:
                response = await self._http.post(self._url(method), json=dict(params or {}), timeout=timeout)
        except httpx.HTTPError as exc:
            raise TelegramError(redact(f"{exc.__class__.__name__}: {exc}".rstrip(": ")), status=0) from None
        return _result(response)

    async def download(self, file_path: str, *, max_bytes: int) -> bytes:
        """A file's bytes by the ``file_path`` getFile returned."""
        url = f"{self.settings.api_base_url}/file/bot{self.settings.token}/{file_path.lstrip('/')}"
        try:
            async with self._http.stream("GET", url) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise TelegramError(
                        f"file download answered {response.status_code}", status=response.status_code
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise TelegramError(
                            f"the file is larger than {max_bytes} bytes", status=413, retriable=False
                        )
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise TelegramError(redact(f"{exc.__class__.__name__}: {exc}".rstrip(": ")), status=0) from None

    # -- the methods Opora uses --------------------------------------------------------------------

    async def get_updates(self, offset: int | None, *, wait: int, limit: int = 100) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "timeout": wait,
            "limit": limit,
            "allowed_updates": ALLOWED_UPDATES,
        }
        if offset is not None:
            params["offset"] = offset
        result = await self.call("getUpdates", params, read_timeout=wait + LONG_POLL_MARGIN)
        if not isinstance(result, list):
            raise TelegramError("getUpdates did not answer a list", status=502)
        return [u for u in result if isinstance(u, dict) and isinstance(u.get("update_id"), int)]

    async def get_file_path(self, file_id: str) -> str:
        result = await self.call("getFile", {"file_id": file_id})
        path = result.get("file_path") if isinstance(result, dict) else None
        if not isinstance(path, str) or not path:
            # Telegram leaves file_path out for files it will not serve (over 20 MB).
            raise TelegramError("Telegram offers no download for this file", status=400)
        return path


# What Opora reads; everything else (polls, reactions, chat member changes) is not asked for.
# callback_query: presses on the bot's inline buttons ("did this help?").
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]


def _result(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise TelegramError(
            f"unexpected answer (HTTP {response.status_code})", status=response.status_code or 502
        )
    if body.get("ok") is True and response.status_code < 300:
        return body.get("result")
    code = body.get("error_code")
    status = code if isinstance(code, int) and not isinstance(code, bool) else response.status_code
    parameters = body.get("parameters")
    retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
    description = str(body.get("description") or f"HTTP {response.status_code}")[:1000]
    raise TelegramError(
        description,
        status=status,
        retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
    )
