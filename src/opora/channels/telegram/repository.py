"""All SQL of the Telegram channel: files fetched after the message is stored, the customer's language."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opora.customers.models import Customer
from opora.tickets.models import Attachment, Message


async def get_message(session: AsyncSession, message_id: int) -> Message | None:
    return await session.get(Message, message_id)


async def has_attachments(session: AsyncSession, message_id: int) -> bool:
    query = select(exists().where(Attachment.message_id == message_id))
    return bool(await session.scalar(query))


async def insert_attachments(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(Attachment), list(rows))


async def merge_message_metadata(session: AsyncSession, message_id: int, extra: dict[str, Any]) -> None:
    message = await session.get(
        Message, message_id, with_for_update=session.get_bind().dialect.name != "sqlite"
    )
    if message is not None:
        # A new dict, so that the JSON column is seen as changed.
        message.metadata_ = {**(message.metadata_ or {}), **extra}
        await session.flush()


async def set_language_if_unknown(session: AsyncSession, customer_ids: Sequence[int], language: str) -> None:
    """One statement for a whole batch; a language an agent or an earlier message set is kept."""
    if customer_ids:
        await session.execute(
            update(Customer)
            .where(Customer.id.in_(sorted(set(customer_ids))), Customer.language.is_(None))
            .values(language=language)
        )
