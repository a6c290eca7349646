"""VK community channel settings (Callback API in, messages.send out)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_API_BASE = "https://api.vk.com/method"
DEFAULT_API_VERSION = "5.199"


@dataclass(frozen=True)
class VkSettings:
    group_id: int
    confirmation_code: str
    api_base_url: str
    api_version: str
    access_token: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)

    def url(self, method: str) -> str:
        return f"{self.api_base_url.rstrip('/')}/{method}"


def load(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> VkSettings:
    """ValueError naming the first missing or wrong value."""
    group_id = settings.get("group_id")
    if isinstance(group_id, str) and group_id.strip().isdigit():
        group_id = int(group_id)
    if not isinstance(group_id, int) or isinstance(group_id, bool) or group_id <= 0:
        raise ValueError("settings.group_id (the community's numeric id) is required")
    code = str(settings.get("confirmation_code") or "").strip()
    if not code:
        raise ValueError("settings.confirmation_code (from Manage > API usage > Callback API) is required")
    base = str(settings.get("api_base_url") or DEFAULT_API_BASE).strip()
    if not base.startswith(("https://", "http://")):
        raise ValueError("settings.api_base_url must be an http(s) URL")
    token = secrets.get("access_token")
    if not isinstance(token, str) or not token.strip():
        raise ValueError("the access_token secret (a community token with messages access) is required")
    secret = secrets.get("secret")
    if secret is not None and (not isinstance(secret, str) or not secret.strip()):
        raise ValueError("the secret must be the Callback API's secret key")
    return VkSettings(
        group_id=group_id,
        confirmation_code=code,
        api_base_url=base,
        api_version=str(settings.get("api_version") or DEFAULT_API_VERSION).strip(),
        access_token=token.strip(),
        secret=secret.strip() if isinstance(secret, str) else None,
    )


def check_config(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
    load(settings, secrets)
