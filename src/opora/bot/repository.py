"""All SQL of the bot: intents, examples, model versions, settings, channels and conversations."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, ColumnExpressionArgument, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from opora.bot.models import (
    BotChannel,
    BotConversation,
    BotExample,
    BotIntent,
    BotModel,
    BotSettings,
    ConversationStatus,
    ModelStatus,
)
from opora.kb.models import KbArticle
from opora.kit.readcache import cached, watch


async def list_intents(session: AsyncSession, language: str | None) -> Sequence[BotIntent]:
    query = select(BotIntent).order_by(BotIntent.language, BotIntent.key)
    if language:
        query = query.where(BotIntent.language == language)
    return (await session.scalars(query)).all()


async def get_intent(session: AsyncSession, intent_id: int) -> BotIntent | None:
    return await session.get(BotIntent, intent_id)


async def intent_by_key(session: AsyncSession, language: str, key: str) -> BotIntent | None:
    return await session.scalar(select(BotIntent).where(BotIntent.language == language, BotIntent.key == key))


async def examples_of(session: AsyncSession, intent_ids: Sequence[int]) -> dict[int, list[BotExample]]:
    result: dict[int, list[BotExample]] = {i: [] for i in intent_ids}
    if intent_ids:
        rows = await session.scalars(
            select(BotExample).where(BotExample.intent_id.in_(intent_ids)).order_by(BotExample.id)
        )
        for row in rows:
            result[row.intent_id].append(row)
    return result


async def get_example(session: AsyncSession, example_id: int) -> BotExample | None:
    return await session.get(BotExample, example_id)


async def delete_examples(session: AsyncSession, intent_id: int) -> None:
    await session.execute(delete(BotExample).where(BotExample.intent_id == intent_id))


async def training_rows(session: AsyncSession, language: str) -> list[tuple[str, str]]:
    """(intent key, example text) of the enabled intents of ``language``."""
    rows = await session.execute(
        select(BotIntent.key, BotExample.text)
        .join(BotExample, BotExample.intent_id == BotIntent.id)
        .where(BotIntent.language == language, BotIntent.enabled.is_(True))
        .order_by(BotExample.id)
    )
    return [(key, text) for key, text in rows]


async def get_settings(session: AsyncSession, language: str) -> BotSettings | None:
    return await session.get(BotSettings, language)


async def list_models(session: AsyncSession, language: str | None, limit: int) -> Sequence[BotModel]:
    query = select(BotModel).order_by(BotModel.id.desc()).limit(limit)
    if language:
        query = query.where(BotModel.language == language)
    # The weights stay out of listings; they are read only when a model is loaded.
    return (await session.scalars(query.options(defer(BotModel.weights)))).all()


async def get_model(session: AsyncSession, model_id: int) -> BotModel | None:
    return await session.get(BotModel, model_id)


async def active_model_head(session: AsyncSession, language: str) -> tuple[int, datetime] | None:
    """The active version's id and creation time: together they name its weights, even where an
    emptied SQLite table hands out an id again."""
    row = (
        await session.execute(
            select(BotModel.id, BotModel.created_at)
            .where(BotModel.language == language, BotModel.status == ModelStatus.ACTIVE)
            .order_by(BotModel.id.desc())
            .limit(1)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def active_encoders(session: AsyncSession) -> list[tuple[int, str, str]]:
    """``(id, language, encoder)`` of each language's active version (the newest if several)."""
    rows = await session.execute(
        select(BotModel.id, BotModel.language, BotModel.encoder)
        .where(BotModel.status == ModelStatus.ACTIVE)
        .order_by(BotModel.language, BotModel.id.desc())
    )
    newest: dict[str, tuple[int, str, str]] = {}
    for model_id, language, encoder in rows:
        newest.setdefault(language, (model_id, language, encoder))
    return list(newest.values())


async def version_since(session: AsyncSession, language: str, encoder: str, *, after_id: int) -> int | None:
    """The newest version of ``language`` trained with ``encoder`` after version ``after_id``, in any
    state (active, kept or failed)."""
    found: int | None = await session.scalar(
        select(BotModel.id)
        .where(BotModel.language == language, BotModel.encoder == encoder, BotModel.id > after_id)
        .order_by(BotModel.id.desc())
        .limit(1)
    )
    return found


async def retire_active(session: AsyncSession, language: str, *, keep_id: int) -> None:
    await session.execute(
        update(BotModel)
        .where(BotModel.language == language, BotModel.status == ModelStatus.ACTIVE, BotModel.id != keep_id)
        .values(status=ModelStatus.READY)
    )


async def kb_article_exists(session: AsyncSession, article_id: int) -> bool:
    return await session.scalar(select(KbArticle.id).where(KbArticle.id == article_id)) is not None


async def kb_article(session: AsyncSession, article_id: int) -> KbArticle | None:
    return await session.get(KbArticle, article_id)


# --- channels and conversations -------------------------------------------------------------


async def channel_settings(session: AsyncSession, channel_ids: Collection[int]) -> dict[int, BotChannel]:
    if not channel_ids:
        return {}
    rows = await session.scalars(select(BotChannel).where(BotChannel.channel_id.in_(sorted(channel_ids))))
    return {r.channel_id: r for r in rows}


async def get_channel_settings(session: AsyncSession, channel_id: int) -> BotChannel | None:
    return await session.get(BotChannel, channel_id)


async def conversations(session: AsyncSession, ticket_ids: Collection[int]) -> dict[int, BotConversation]:
    if not ticket_ids:
        return {}
    rows = await session.scalars(
        select(BotConversation).where(BotConversation.ticket_id.in_(sorted(ticket_ids)))
    )
    return {r.ticket_id: r for r in rows}


async def conversation(session: AsyncSession, ticket_id: int, *, lock: bool) -> BotConversation | None:
    return await session.get(BotConversation, ticket_id, with_for_update=lock or None, populate_existing=True)


async def active_conversations(session: AsyncSession, ticket_ids: Collection[int]) -> set[int]:
    """The tickets among ``ticket_ids`` that the bot is answering (bot mode)."""
    if not ticket_ids:
        return set()
    rows = await session.scalars(
        select(BotConversation.ticket_id).where(
            BotConversation.ticket_id.in_(sorted(ticket_ids)),
            BotConversation.status == ConversationStatus.ACTIVE,
        )
    )
    return set(rows)


def not_in_bot_mode(ticket_id: ColumnExpressionArgument[int]) -> ColumnElement[bool]:
    """A condition for queries over tickets: the bot is not answering this one (routing)."""
    return ~exists().where(
        BotConversation.ticket_id == ticket_id, BotConversation.status == ConversationStatus.ACTIVE
    )


# Every new conversation asks whether the bot has a model and whether it talks on the channel.
watch(BotModel.__tablename__, BotChannel.__tablename__)


async def has_active_model(session: AsyncSession, language: str) -> bool:
    """From the process's cache (kit.readcache): another process's activation shows within its TTL."""

    async def load() -> bool:
        return await active_model_head(session, language) is not None

    return await cached(session, ("bot.has_active_model", language), load)
