"""Where the bot talks: per channel, on or off and in which languages.

Chats and messengers (widget, Telegram, WhatsApp, VK, Viber) have the bot on by default, so a
shop that trains a model sees it answer there; it still answers only in a language with an
active model. Email and web forms are off until an admin turns the bot on for that channel:
a customer who wrote a letter expects a person. Calls and device events never get the bot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from opora.bot import repository as repo
from opora.bot.models import BotChannel
from opora.channels import repository as channels_repo
from opora.channels.models import Channel
from opora.db import UnitOfWork
from opora.kit.errors import InvalidInput, NotFound
from opora.kit.time import utcnow

DEFAULT_ON = frozenset({"webchat", "telegram", "whatsapp", "vk", "viber"})
OPT_IN = frozenset({"email", "webform"})
LANGUAGES = ("ru", "en")


@dataclass(frozen=True, slots=True)
class ChannelBot:
    channel_id: int
    channel_type: str
    channel_name: str
    supported: bool
    enabled: bool
    languages: tuple[str, ...]
    default: bool  # nothing stored: the type's default applies


def supported(channel_type: str) -> bool:
    return channel_type in DEFAULT_ON or channel_type in OPT_IN


def effective(channel: Channel, row: BotChannel | None) -> ChannelBot:
    ok = supported(channel.type)
    if row is None:
        return ChannelBot(
            channel.id, channel.type, channel.name, ok, channel.type in DEFAULT_ON, LANGUAGES, True
        )
    languages = tuple(lang for lang in LANGUAGES if lang in (row.languages or []))
    return ChannelBot(channel.id, channel.type, channel.name, ok, ok and row.enabled, languages, False)


def talks(bot: ChannelBot, language: str) -> bool:
    return bot.supported and bot.enabled and language in bot.languages


async def for_channels(uow: UnitOfWork, channels: Sequence[Channel]) -> list[ChannelBot]:
    rows = await repo.channel_settings(uow.session, [c.id for c in channels])
    return [effective(c, rows.get(c.id)) for c in channels]


async def get(uow: UnitOfWork, channel_id: int) -> ChannelBot:
    channel = await channels_repo.get_channel(uow.session, channel_id)
    if channel is None:
        raise NotFound(f"Channel {channel_id} does not exist.")
    return effective(channel, await repo.get_channel_settings(uow.session, channel_id))


async def put(uow: UnitOfWork, channel_id: int, *, enabled: bool, languages: Sequence[str]) -> ChannelBot:
    """Check, then store. A refused call changes nothing."""
    channel = await channels_repo.get_channel(uow.session, channel_id)
    if channel is None:
        raise NotFound(f"Channel {channel_id} does not exist.")
    if enabled and not supported(channel.type):
        raise InvalidInput(f"The bot cannot talk on {channel.type} channels.", field="enabled")
    unknown = [lang for lang in languages if lang not in LANGUAGES]
    if unknown:
        raise InvalidInput(f"Unknown language {unknown[0]!r}; the bot speaks ru and en.", field="languages")
    if enabled and not languages:
        raise InvalidInput("Choose at least one language for the bot.", field="languages")
    row = await repo.get_channel_settings(uow.session, channel_id)
    if row is None:
        row = BotChannel(channel_id=channel_id)
        uow.session.add(row)
    row.enabled = enabled
    row.languages = [lang for lang in LANGUAGES if lang in languages]
    row.updated_at = utcnow()
    await uow.session.flush()
    return effective(channel, row)
