"""Pointing a bot at Opora: setWebhook with the channel's secret, deleteWebhook, getWebhookInfo.

Run from a shell on the desk (``python -m opora.channels.telegram webhook set 3``): the admin API
does not know channel packages' own actions yet, and these calls are made once per bot.
"""

from __future__ import annotations

from typing import Any

from opora.channels import service as channels_service
from opora.channels.telegram.api import ALLOWED_UPDATES, BotApi
from opora.channels.telegram.config import TelegramSettings, load
from opora.kit.errors import InvalidInput
from opora.runtime import Runtime

CHANNEL_TYPE = "telegram"


def webhook_url(runtime: Runtime, channel_id: int) -> str:
    return f"{runtime.settings.public_url}/api/v1/inbound/{channel_id}"


async def _settings(runtime: Runtime, channel_id: int) -> TelegramSettings:
    async with runtime.db.uow() as uow:
        channel = await channels_service.get_channel(uow, channel_id)
        if channel.type != CHANNEL_TYPE:
            raise InvalidInput(
                f"Channel {channel_id} is a {channel.type} channel, not Telegram.", field="channel"
            )
        try:
            return load(channel.settings, channels_service.channel_secrets(runtime, channel))
        except ValueError as exc:
            raise InvalidInput(
                f"The Telegram channel is not configured right: {exc}", field="settings"
            ) from exc


async def set_webhook(runtime: Runtime, channel_id: int, *, url: str | None = None) -> str:
    """Register the desk's inbound URL with the channel's secret; returns the URL. Updates already
    waiting at Telegram are kept: they arrive through the webhook next."""
    settings = await _settings(runtime, channel_id)
    if settings.webhook_secret is None:
        raise InvalidInput("Set the secret 'webhook_secret' on the channel first.", field="secrets")
    target = url or webhook_url(runtime, channel_id)
    if not target.startswith("https://"):
        # Telegram refuses plain HTTP; saying so here is clearer than its "bad webhook" answer.
        raise InvalidInput(
            f"Telegram calls webhooks over HTTPS only; {target!r} is not. Set OPORA_BASE_URL.",
            field="url",
        )
    async with BotApi(settings) as api:
        await api.call(
            "setWebhook",
            {"url": target, "secret_token": settings.webhook_secret, "allowed_updates": ALLOWED_UPDATES},
        )
    return target


async def delete_webhook(runtime: Runtime, channel_id: int) -> None:
    async with BotApi(await _settings(runtime, channel_id)) as api:
        await api.call("deleteWebhook", {"drop_pending_updates": False})


async def webhook_info(runtime: Runtime, channel_id: int) -> dict[str, Any]:
    async with BotApi(await _settings(runtime, channel_id)) as api:
        info = await api.call("getWebhookInfo")
    return info if isinstance(info, dict) else {}
