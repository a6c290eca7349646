"""WhatsApp Cloud API channel settings: what an admin saves, checked once, read by the adapter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_API_BASE = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"


@dataclass(frozen=True)
class WhatsAppSettings:
    phone_number_id: str
    api_base_url: str
    api_version: str
    access_token: str = field(repr=False)
    app_secret: str = field(repr=False)
    verify_token: str = field(repr=False)

    def url(self, *parts: str) -> str:
        return "/".join([self.api_base_url.rstrip("/"), self.api_version, *parts])


def load(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> WhatsAppSettings:
    """ValueError naming the first missing or wrong value."""
    phone_number_id = str(settings.get("phone_number_id") or "").strip()
    if not phone_number_id.isdigit():
        raise ValueError(
            "settings.phone_number_id (digits, from the app's WhatsApp > API Setup page) is required"
        )
    base = str(settings.get("api_base_url") or DEFAULT_API_BASE).strip()
    if not base.startswith(("https://", "http://")):
        raise ValueError("settings.api_base_url must be an http(s) URL")
    values = {}
    for name in ("access_token", "app_secret", "verify_token"):
        value = secrets.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"the {name} secret is required")
        values[name] = value.strip()
    return WhatsAppSettings(
        phone_number_id=phone_number_id,
        api_base_url=base,
        api_version=str(settings.get("api_version") or DEFAULT_API_VERSION).strip(),
        **values,
    )


def check_config(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
    load(settings, secrets)
