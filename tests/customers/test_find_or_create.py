import asyncio

import pytest
from sqlalchemy import func, select

from opora.customers import repository, service
from opora.customers.models import Customer, CustomerIdentity
from opora.kit.errors import InvalidInput
from opora.runtime import Runtime


async def counts(runtime: Runtime) -> tuple[int, int]:
    async with runtime.db.uow() as uow:
        customers = await uow.session.scalar(select(func.count()).select_from(Customer))
        identities = await uow.session.scalar(select(func.count()).select_from(CustomerIdentity))
    return int(customers or 0), int(identities or 0)


async def test_twenty_concurrent_calls_make_one_customer(runtime: Runtime) -> None:
    async def one(n: int) -> int:
        async with runtime.db.uow() as uow:
            # Every caller writes the number differently; all mean the same identity.
            value = "8 (912) 345-67-89" if n % 2 else "+7 912 345 67 89"
            customer = await service.find_or_create_by_identity(uow, "phone", value, name=f"Caller {n}")
            return customer.id

    ids = await asyncio.gather(*(one(n) for n in range(20)))
    assert len(set(ids)) == 1
    assert await counts(runtime) == (1, 1)
    async with runtime.db.uow() as uow:
        identity = (await uow.session.scalars(select(CustomerIdentity))).one()
    assert (identity.kind, identity.value, identity.customer_id) == ("phone", "+79123456789", ids[0])


async def test_lost_race_reads_the_winner(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the path where the identity appears between the lookup and the insert."""
    async with runtime.db.uow() as uow:
        winner = await service.find_or_create_by_identity(uow, "email", "Race@Shop.ru")
    real_find = repository.find_identity
    calls = 0

    async def blind_once(session: object, kind: str, value: str) -> CustomerIdentity | None:
        nonlocal calls
        calls += 1
        return None if calls == 1 else await real_find(session, kind, value)  # type: ignore[arg-type]

    monkeypatch.setattr(repository, "find_identity", blind_once)
    async with runtime.db.uow() as uow:
        found = await service.find_or_create_by_identity(uow, "email", "race@shop.ru", name="Late")
        # The caller's transaction is still usable after the undone insert.
        await uow.session.execute(select(1))
    assert found.id == winner.id
    assert calls == 2
    assert await counts(runtime) == (1, 1)


async def test_known_identity_fills_blanks_but_never_overwrites(runtime: Runtime) -> None:
    async with runtime.db.uow() as uow:
        first = await service.find_or_create_by_identity(uow, "telegram", "777")
    assert (first.name, first.language) == ("", None)
    async with runtime.db.uow() as uow:
        again = await service.find_or_create_by_identity(
            uow, "telegram", " 777 ", name="Ольга", language="ru"
        )
    assert (again.id, again.name, again.language) == (first.id, "Ольга", "ru")
    async with runtime.db.uow() as uow:
        third = await service.find_or_create_by_identity(uow, "telegram", "777", name="Olga", language="en")
    assert (third.name, third.language) == ("Ольга", "ru")
    async with runtime.db.uow() as uow:
        new = await service.find_or_create_by_identity(uow, "vk", "id9", name="x" * 500, language="de")
    assert (len(new.name), new.language) == (200, None)


async def test_bad_identity_is_refused_with_the_callers_field(runtime: Runtime) -> None:
    async with runtime.db.uow() as uow:
        with pytest.raises(InvalidInput) as caught:
            await service.find_or_create_by_identity(uow, "phone", "12", field="customer.identity")
    assert caught.value.field == "customer.identity.value"
    assert await counts(runtime) == (0, 0)


async def test_identity_of_a_merged_customer_leads_to_the_survivor(runtime: Runtime) -> None:
    async with runtime.db.uow() as uow:
        a = await service.find_or_create_by_identity(uow, "email", "a@shop.ru")
        b = await service.find_or_create_by_identity(uow, "email", "b@shop.ru")
        await service.merge(uow, a.id, b.id)
    async with runtime.db.uow() as uow:
        found = await service.find_or_create_by_identity(uow, "email", "b@shop.ru")
        resolved = await service.resolve_customer(uow, b.id)
    assert found.id == resolved.id == a.id
