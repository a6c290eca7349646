"""All SQL about canned responses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.canned.models import CannedLanguage, CannedResponse, tag_marker
from opora.customers.models import CustomerIdentity, IdentityKind


@dataclass
class CannedFilter:
    """What one agent may see: its own templates and the shared ones, narrowed down."""

    viewer_id: int
    q: str | None = None  # already folded
    language: str | None = None
    tag: str | None = None
    scope: str | None = None  # "personal", "shared" or None for both


def _filtered(f: CannedFilter) -> Select[CannedResponse]:
    query = select(CannedResponse)
    if f.scope == "personal":
        query = query.where(CannedResponse.owner_id == f.viewer_id)
    elif f.scope == "shared":
        query = query.where(CannedResponse.owner_id.is_(None))
    else:
        query = query.where(or_(CannedResponse.owner_id.is_(None), CannedResponse.owner_id == f.viewer_id))
    if f.q:
        query = query.where(CannedResponse.search_text.contains(f.q, autoescape=True))
    if f.language:
        query = query.where(CannedResponse.language.in_([f.language, CannedLanguage.ANY]))
    if f.tag:
        query = query.where(CannedResponse.tag_index.contains(tag_marker(f.tag), autoescape=True))
    return query


def _after(after: tuple[str, int]) -> ColumnElement[bool]:
    sort_key, canned_id = after
    return or_(
        CannedResponse.sort_key > sort_key,
        and_(CannedResponse.sort_key == sort_key, CannedResponse.id > canned_id),
    )


async def list_canned(
    session: AsyncSession, f: CannedFilter, *, limit: int, after: tuple[str, int] | None
) -> Sequence[CannedResponse]:
    """Title order, keyset-paginated on (sort_key, id)."""
    query = _filtered(f)
    if after is not None:
        query = query.where(_after(after))
    query = query.order_by(CannedResponse.sort_key, CannedResponse.id).limit(limit)
    return (await session.scalars(query)).all()


async def search(session: AsyncSession, f: CannedFilter, *, limit: int) -> Sequence[CannedResponse]:
    """Best matches first: the exact shortcut, then titles starting with the query, then the
    agent's own templates before shared ones, then title order."""
    query = _filtered(f)
    order: list[ColumnElement[Any]] = []
    if f.q:
        order.append(
            case(
                (CannedResponse.shortcut == f.q, 0),
                (CannedResponse.sort_key.startswith(f.q, autoescape=True), 1),
                else_=2,
            )
        )
    order += [CannedResponse.owner_id.is_(None), CannedResponse.sort_key.asc(), CannedResponse.id.asc()]
    return (await session.scalars(query.order_by(*order).limit(limit))).all()


async def get(session: AsyncSession, canned_id: int, *, for_update: bool = False) -> CannedResponse | None:
    if for_update:
        query = select(CannedResponse).where(CannedResponse.id == canned_id).with_for_update()
        return (await session.scalars(query)).first()
    return await session.get(CannedResponse, canned_id)


async def shortcut_taken(
    session: AsyncSession, shortcut: str, *, owner_id: int | None, except_id: int | None
) -> bool:
    owner = CannedResponse.owner_id.is_(None) if owner_id is None else CannedResponse.owner_id == owner_id
    query = select(CannedResponse.id).where(CannedResponse.shortcut == shortcut, owner)
    if except_id is not None:
        query = query.where(CannedResponse.id != except_id)
    return (await session.scalars(query.limit(1))).first() is not None


async def first_email(session: AsyncSession, customer_id: int) -> str | None:
    query = (
        select(CustomerIdentity.value)
        .where(CustomerIdentity.customer_id == customer_id, CustomerIdentity.kind == IdentityKind.EMAIL)
        .order_by(CustomerIdentity.id)
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def delete(session: AsyncSession, canned: CannedResponse) -> None:
    await session.delete(canned)
    await session.flush()
