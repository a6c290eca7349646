"""Viber bot channel settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_API_BASE = "https://chatapi.viber.com/pa"
MAX_SENDER_NAME = 28  # Viber's limit for sender.name


@dataclass(frozen=True)
class ViberSettings:
    sender_name: str
    sender_avatar: str | None
    api_base_url: str
    auth_token: str = field(repr=False)

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
    return ViberSettings(
        sender_name=name,
        sender_avatar=str(avatar) if avatar else None,
        api_base_url=base,
        auth_token=token.strip(),
    )


def check_config(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
    load(settings, secrets)
