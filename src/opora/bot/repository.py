"""All SQL of the bot: intents, examples, model versions and settings."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from opora.bot.models import BotExample, BotIntent, BotModel, BotSettings, ModelStatus
from opora.kb.models import KbArticle


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


async def active_model_head(session: AsyncSession, language: str) -> tuple[int, float | None] | None:
    row = (
        await session.execute(
            select(BotModel.id, BotModel.threshold)
            .where(BotModel.language == language, BotModel.status == ModelStatus.ACTIVE)
            .order_by(BotModel.id.desc())
            .limit(1)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def retire_active(session: AsyncSession, language: str, *, keep_id: int) -> None:
    await session.execute(
        update(BotModel)
        .where(BotModel.language == language, BotModel.status == ModelStatus.ACTIVE, BotModel.id != keep_id)
        .values(status=ModelStatus.READY)
    )


async def kb_article_exists(session: AsyncSession, article_id: int) -> bool:
    return await session.scalar(select(KbArticle.id).where(KbArticle.id == article_id)) is not None
