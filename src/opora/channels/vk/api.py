"""Calls to the VK API and the meaning of its error codes."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from opora.channels.vk.config import VkSettings

TIMEOUT = httpx.Timeout(20.0, connect=5.0)

# Worth trying again: unknown error, too many requests per second, flood control, internal error,
# "try later", too many similar messages in a row.
RETRIABLE_CODES = frozenset({1, 6, 9, 10, 29, 603})
# The customer decides whether the community may write: explain it to the agent in both languages.
_EXPLAINED = {
    901: (
        "the customer has not allowed messages from the community",
        "клиент не разрешил сообществу присылать сообщения",
    ),
    902: (
        "the customer's privacy settings forbid messages from the community",
        "настройки приватности клиента запрещают сообщения от сообщества",
    ),
    900: ("the customer has blocked the community", "клиент заблокировал сообщество"),
}


class ApiError(Exception):
    def __init__(self, message: str, *, retriable: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.retriable = retriable
        self.code = code


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=TIMEOUT, trust_env=False, follow_redirects=False)


def random_id(idempotency_key: str) -> int:
    """VK drops a second messages.send with the same random_id to the same peer, so a retried
    job must send the same number: derived from our message id, within VK's signed 32 bits."""
    return int.from_bytes(hashlib.sha256(idempotency_key.encode()).digest()[:4], "big") & 0x7FFFFFFF


def error_of(error: Any) -> ApiError:
    if not isinstance(error, dict):
        return ApiError("VK answered with an error it did not describe", retriable=True)
    code = error.get("error_code")
    code = code if isinstance(code, int) else None
    if code in _EXPLAINED:
        en, ru = _EXPLAINED[code]
        return ApiError(f"vk_error_{code}: {en}.\n{ru[0].upper()}{ru[1:]}.", retriable=False, code=code)
    return ApiError(
        f"VK error {code}: {error.get('error_msg') or 'unknown'}"[:2000],
        retriable=code in RETRIABLE_CODES,
        code=code,
    )


async def call(http: httpx.AsyncClient, settings: VkSettings, method: str, params: dict[str, Any]) -> Any:
    """One API method; its ``response`` or :class:`ApiError`. The token travels in the form body,
    never in a URL that a proxy or a log could keep."""
    form = {**params, "access_token": settings.access_token, "v": settings.api_version}
    try:
        answer = await http.post(settings.url(method), data={k: str(v) for k, v in form.items()})
    except httpx.HTTPError as exc:
        raise ApiError(f"VK is unreachable: {exc.__class__.__name__}: {exc}", retriable=True) from exc
    if answer.status_code >= 300:
        raise ApiError(
            f"VK answered HTTP {answer.status_code}",
            retriable=answer.status_code >= 500 or answer.status_code == 429,
        )
    try:
        data = answer.json()
    except ValueError as exc:
        raise ApiError("VK answered with something that is not JSON", retriable=True) from exc
    if not isinstance(data, dict) or "error" in data or "response" not in data:
        raise error_of(data.get("error") if isinstance(data, dict) else None)
    return data["response"]


async def upload_document(
    http: httpx.AsyncClient,
    settings: VkSettings,
    *,
    peer_id: int,
    filename: str,
    content_type: str,
    data: bytes,
) -> str:
    """docs.getMessagesUploadServer → upload → docs.save; the ``doc<owner>_<id>`` attachment."""
    server = await call(http, settings, "docs.getMessagesUploadServer", {"type": "doc", "peer_id": peer_id})
    upload_url = server.get("upload_url") if isinstance(server, dict) else None
    if not isinstance(upload_url, str):
        raise ApiError("VK gave no upload URL for a document", retriable=True)
    try:
        uploaded = await http.post(upload_url, files={"file": (filename, data, content_type)})
        file_token = uploaded.json().get("file")
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        raise ApiError(f"the upload of {filename!r} to VK failed: {exc}", retriable=True) from exc
    if not file_token:
        raise ApiError(f"VK refused the file {filename!r}", retriable=False)
    saved = await call(http, settings, "docs.save", {"file": file_token, "title": filename})
    doc = saved.get("doc") if isinstance(saved, dict) else None
    if not isinstance(doc, dict) or "id" not in doc or "owner_id" not in doc:
        raise ApiError("VK saved the document but returned no id", retriable=True)
    return f"doc{doc['owner_id']}_{doc['id']}"
