"""A Telegram channel's settings, read once from the channel row and checked when an admin saves them.

Settings (plain JSON): ``mode`` ("webhook", the default, or "polling" for a desk without a public
URL), ``api_base_url`` (default https://api.telegram.org; a self-hosted Bot API server or, in
tests, a fake one), ``poll_timeout`` (seconds a getUpdates call waits for news, 0-50, default 25),
``team_id``. Secrets (stored encrypted): ``bot_token`` from @BotFather, and ``webhook_secret``, the
value Telegram sends back in ``X-Telegram-Bot-Api-Secret-Token`` (required in webhook mode).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

Mode = Literal["webhook", "polling"]
DEFAULT_API = "https://api.telegram.org"
DEFAULT_POLL_TIMEOUT = 25
MAX_POLL_TIMEOUT = 50
# What BotFather hands out: the bot's numeric id, a colon, 35 URL-safe characters (length varies
# in practice, so only the alphabet is checked).
_TOKEN = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$")
# The alphabet and length setWebhook accepts for secret_token.
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


@dataclass(frozen=True)
class TelegramSettings:
    token: str = field(repr=False)
    mode: Mode
    api_base_url: str
    poll_timeout: int
    webhook_secret: str | None = field(default=None, repr=False)

    @property
    def bot_id(self) -> str:
        return self.token.split(":", 1)[0]


def load(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> TelegramSettings:
    """Read and check a channel's settings; ValueError names the first thing that is wrong."""
    token = secrets.get("bot_token")
    if not isinstance(token, str) or not _TOKEN.match(token.strip()):
        raise ValueError("the secret 'bot_token' must be the token @BotFather gave (123456:ABC…)")
    mode = settings.get("mode", "webhook")
    if mode not in ("webhook", "polling"):
        raise ValueError("'mode' must be 'webhook' or 'polling'")
    secret = secrets.get("webhook_secret")
    if secret is not None and (not isinstance(secret, str) or not _SECRET.match(secret)):
        raise ValueError("the secret 'webhook_secret' must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
    if mode == "webhook" and secret is None:
        raise ValueError(
            "webhook mode needs the secret 'webhook_secret' (Telegram sends it back on each call)"
        )
    return TelegramSettings(
        token=token.strip(),
        mode="polling" if mode == "polling" else "webhook",
        api_base_url=_base_url(settings.get("api_base_url", DEFAULT_API)),
        poll_timeout=_poll_timeout(settings.get("poll_timeout", DEFAULT_POLL_TIMEOUT)),
        webhook_secret=secret,
    )


def check_config(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
    """The registry's hook: refuse a channel that could neither receive nor reply."""
    load(settings, secrets)


def _base_url(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 500:
        raise ValueError("'api_base_url' must be an http(s) URL")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("'api_base_url' must be an http(s) URL without query, like https://api.telegram.org")
    return value.strip().rstrip("/")


def _poll_timeout(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_POLL_TIMEOUT:
        raise ValueError(f"'poll_timeout' must be a whole number of seconds from 0 to {MAX_POLL_TIMEOUT}")
    return value
