"""Calls to the WhatsApp Cloud API (Graph API) and the meaning of its errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from opora.channels.base import DeliveryResult
from opora.channels.whatsapp.config import WhatsAppSettings
from opora.channels.whatsapp.window import WINDOW_CLOSED, WINDOW_CLOSED_CODE

TIMEOUT = httpx.Timeout(20.0, connect=5.0)
MAX_MEDIA_BYTES = 100 * 1024 * 1024  # the Cloud API's own limit for documents

# Graph error codes that say "later": throttling, the API being unavailable, a pair rate limit.
RETRIABLE_CODES = frozenset({1, 2, 4, 17, 32, 613, 80007, 130429, 131000, 131016, 131048, 131056, 133004})


class ApiError(Exception):
    def __init__(self, message: str, *, retriable: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.retriable = retriable
        self.code = code

    def result(self) -> DeliveryResult:
        return DeliveryResult.failed(str(self), retriable=self.retriable)


def client() -> httpx.AsyncClient:
    # trust_env=False: proxy variables of the process do not reroute calls that carry our token.
    return httpx.AsyncClient(timeout=TIMEOUT, trust_env=False, follow_redirects=False)


def error_of(status_code: int, body: bytes) -> ApiError:
    """Turn a Graph error answer into a message for the agent and whether a retry can help."""
    try:
        data = httpx.Response(status_code, content=body).json()
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        retriable = status_code >= 500 or status_code == 429
        return ApiError(f"WhatsApp answered HTTP {status_code}", retriable=retriable)
    code = error.get("code")
    code = code if isinstance(code, int) else None
    if code == WINDOW_CLOSED_CODE:
        return ApiError(WINDOW_CLOSED, retriable=False, code=code)
    details = (
        (error.get("error_data") or {}).get("details") if isinstance(error.get("error_data"), dict) else None
    )
    text = str(details or error.get("message") or "unknown error")
    retriable = code in RETRIABLE_CODES or status_code >= 500 or status_code == 429
    return ApiError(f"WhatsApp error {code}: {text}"[:2000], retriable=retriable, code=code)


def status_error(errors: Any) -> str:
    """The text of a "failed" status's errors, with the window rule explained."""
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return "WhatsApp reported the message as failed"
    first = errors[0]
    if first.get("code") == WINDOW_CLOSED_CODE:
        return WINDOW_CLOSED
    details = (
        (first.get("error_data") or {}).get("details") if isinstance(first.get("error_data"), dict) else None
    )
    return f"WhatsApp error {first.get('code')}: {details or first.get('title') or first.get('message')}"[
        :2000
    ]


async def post_json(
    http: httpx.AsyncClient, settings: WhatsAppSettings, url: str, body: dict[str, Any]
) -> Any:
    return await _call(http, "POST", url, settings, json=body)


async def _call(
    http: httpx.AsyncClient, method: str, url: str, settings: WhatsAppSettings, **kwargs: Any
) -> Any:
    headers = {"Authorization": f"Bearer {settings.access_token}"}
    try:
        response = await http.request(method, url, headers=headers, **kwargs)
    except httpx.HTTPError as exc:
        raise ApiError(f"WhatsApp is unreachable: {exc.__class__.__name__}: {exc}", retriable=True) from exc
    if response.status_code >= 300:
        raise error_of(response.status_code, response.content)
    try:
        return response.json()
    except ValueError as exc:
        raise ApiError("WhatsApp answered with something that is not JSON", retriable=True) from exc


@dataclass(frozen=True)
class Media:
    data: bytes
    content_type: str


async def upload_media(
    http: httpx.AsyncClient, settings: WhatsAppSettings, *, filename: str, content_type: str, data: bytes
) -> str:
    answer = await _call(
        http,
        "POST",
        settings.url(settings.phone_number_id, "media"),
        settings,
        data={"messaging_product": "whatsapp", "type": content_type},
        files={"file": (filename, data, content_type)},
    )
    media_id = answer.get("id") if isinstance(answer, dict) else None
    if not media_id:
        raise ApiError("WhatsApp did not return an id for the uploaded file", retriable=True)
    return str(media_id)


async def download_media(http: httpx.AsyncClient, settings: WhatsAppSettings, media_id: str) -> Media:
    """Two steps, as documented: the media id gives a short-lived URL, which needs the token too."""
    info = await _call(http, "GET", settings.url(media_id), settings)
    url = info.get("url") if isinstance(info, dict) else None
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ApiError(f"WhatsApp has no download URL for media {media_id}", retriable=False)
    try:
        response = await http.get(url, headers={"Authorization": f"Bearer {settings.access_token}"})
    except httpx.HTTPError as exc:
        raise ApiError(f"media download failed: {exc.__class__.__name__}: {exc}", retriable=True) from exc
    if response.status_code >= 300:
        raise error_of(response.status_code, response.content)
    if len(response.content) > MAX_MEDIA_BYTES:
        raise ApiError(f"media {media_id} is larger than {MAX_MEDIA_BYTES} bytes", retriable=False)
    content_type = str(info.get("mime_type") or response.headers.get("content-type") or "")
    return Media(response.content, content_type.split(";")[0].strip() or "application/octet-stream")
