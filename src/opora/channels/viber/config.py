"""Viber bot channel settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opora.kit.safe_http import parse_allow_list

DEFAULT_API_BASE = "https://chatapi.viber.com/pa"
MAX_SENDER_NAME = 28  # Viber's limit for sender.name
DEFAULT_MEDIA_BYTES = 10 * 1024 * 1024
MAX_MEDIA_BYTES = 50 * 1024 * 1024  # Viber's own limit for a file


@dataclass(frozen=True)
class ViberSettings:
    sender_name: str
    sender_avatar: str | None
    api_base_url: str
    auth_token: str = field(repr=False)
    # The desk's address as Viber sees it: replies' files are fetched by Viber from there.
    files_base_url: str | None = None
    # Inbound pictures, videos and files larger than this are kept as links only.
    media_max_bytes: int = DEFAULT_MEDIA_BYTES
    # Networks a media download may reach besides public addresses (tests, a private mirror).
    media_allow: tuple[str, ...] = ()

    def url(self, method: str) -> str:
        return f"{self.api_base_url.rstrip('/')}/{method}"


def load(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> ViberSettings:
    name = str(settings.get("sender_name") or "").strip()
    if not name or len(name) > MAX_SENDER_NAME:
        raise ValueError(
            f"settings.sender_name (the bot's name shown to customers, up to {MAX_SENDER_NAME} characters) is required"
        )
    base = str(settings.get("api_base_url") or DEFAULT_API_BASE).strip()
    if not base.startswith(("https://", "http://")):
        raise ValueError("settings.api_base_url must be an http(s) URL")
    token = secrets.get("auth_token")
    if not isinstance(token, str) or not token.strip():
        raise ValueError("the auth_token secret (the bot's token from the Viber admin panel) is required")
    avatar = settings.get("sender_avatar")
    files = settings.get("files_base_url")
    if files is not None and (not isinstance(files, str) or not files.startswith(("https://", "http://"))):
        raise ValueError("settings.files_base_url must be the desk's public http(s) address")
    limit = settings.get("media_max_bytes", DEFAULT_MEDIA_BYTES)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= MAX_MEDIA_BYTES:
        raise ValueError(f"settings.media_max_bytes must be 1 to {MAX_MEDIA_BYTES}")
    allow = settings.get("media_allow", [])
    if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
        raise ValueError("settings.media_allow must be a list of IP addresses or networks")
    try:
        parse_allow_list(allow)
    except ValueError as exc:
        raise ValueError(f"settings.media_allow: {exc}") from exc
    return ViberSettings(
        sender_name=name,
        sender_avatar=str(avatar) if avatar else None,
        api_base_url=base,
        auth_token=token.strip(),
        files_base_url=files.rstrip("/") if files else None,
        media_max_bytes=limit,
        media_allow=tuple(allow),
    )


def check_config(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
    load(settings, secrets)
