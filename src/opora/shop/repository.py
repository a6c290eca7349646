"""All SQL about shops and orders."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.shop.models import Order, Shop


async def add(session: AsyncSession, row: Shop | Order) -> None:
    session.add(row)
    await session.flush()


async def get_shop(session: AsyncSession, shop_id: int) -> Shop | None:
    return await session.get(Shop, shop_id)


async def shop_by_key_hash(session: AsyncSession, key_hash: str) -> Shop | None:
    return (await session.scalars(select(Shop).where(Shop.key_hash == key_hash))).first()


async def list_shops(session: AsyncSession) -> Sequence[Shop]:
    return (await session.scalars(select(Shop).order_by(Shop.id))).all()


async def order_by_external(
    session: AsyncSession, shop_id: int, external_id: str, *, lock: bool = False
) -> Order | None:
    query = select(Order).where(Order.shop_id == shop_id, Order.external_id == external_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(query)).first()


async def orders_by_external(
    session: AsyncSession, shop_id: int, external_ids: Sequence[str]
) -> dict[str, Order]:
    if not external_ids:
        return {}
    rows = await session.scalars(
        select(Order).where(Order.shop_id == shop_id, Order.external_id.in_(external_ids))
    )
    return {o.external_id: o for o in rows}


async def orders_by_number(
    session: AsyncSession, number: str, *, customer_ids: Sequence[int] | None
) -> Sequence[Order]:
    query = select(Order).where(func.lower(Order.number) == number.lower())
    if customer_ids is not None:
        query = query.where(Order.customer_id.in_(customer_ids))
    return (await session.scalars(query.order_by(Order.placed_at.desc(), Order.id.desc()).limit(10))).all()


async def recent_orders(session: AsyncSession, customer_id: int, *, limit: int) -> Sequence[Order]:
    query = (
        select(Order)
        .where(Order.customer_id == customer_id)
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def shops_by_ids(session: AsyncSession, ids: Sequence[int]) -> dict[int, Shop]:
    if not ids:
        return {}
    return {s.id: s for s in await session.scalars(select(Shop).where(Shop.id.in_(ids)))}
