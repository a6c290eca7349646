"""All SQL of the Viber channel: the files of its messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.tickets.models import Attachment


async def attachment_count(session: AsyncSession, message_id: int) -> int:
    query = select(func.count()).select_from(Attachment).where(Attachment.message_id == message_id)
    return int(await session.scalar(query) or 0)


async def insert_attachments(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(Attachment), list(rows))


async def attachment_by_hash(session: AsyncSession, digest: str) -> Attachment | None:
    return (await session.scalars(select(Attachment).where(Attachment.sha256 == digest).limit(1))).first()
