"""The per-process settings cache: cached reads save statements, and every edit is seen."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from opora.automation import reactions as automation_reactions
from opora.automation.models import Rule
from opora.channels.models import Channel
from opora.channels.webchat import repository as webchat_repo
from opora.db import UnitOfWork
from opora.kit import readcache
from opora.migrate import upgrade
from opora.runtime import Runtime, build_runtime
from opora.sla import service as sla_service
from opora.sla.models import SlaPolicy
from tests.support.settings import settings_for

TARGETS = {"first_response": {"minutes": 60}}


class Statements:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_args: Any) -> None:
        self.count += 1


@pytest.fixture
def statements(runtime: Runtime) -> Iterator[Statements]:
    counter = Statements()
    event.listen(runtime.db.engine.sync_engine, "before_cursor_execute", counter)
    yield counter
    event.remove(runtime.db.engine.sync_engine, "before_cursor_execute", counter)


async def _policy_names(uow: UnitOfWork) -> list[str]:
    return [p.name for p in await sla_service.active_policies(uow.session)]


async def _add_policy(runtime: Runtime, name: str, position: int = 0) -> int:
    async with runtime.db.uow() as uow:
        row = SlaPolicy(name=name, position=position, conditions={}, targets=TARGETS, warning_percent=80)
        uow.session.add(row)
        await uow.session.flush()
        return row.id


async def test_a_second_read_runs_no_statement(runtime: Runtime, statements: Statements) -> None:
    await _add_policy(runtime, "Стандарт")
    async with runtime.db.uow() as uow:
        assert await _policy_names(uow) == ["Стандарт"]
    before = statements.count
    async with runtime.db.uow() as uow:
        assert await _policy_names(uow) == ["Стандарт"]
        assert await _policy_names(uow) == ["Стандарт"]
    assert statements.count == before  # not even a BEGIN: nothing reached the database


async def test_an_orm_edit_is_seen_by_the_next_transaction(runtime: Runtime) -> None:
    policy_id = await _add_policy(runtime, "Стандарт")
    async with runtime.db.uow() as uow:
        assert await _policy_names(uow) == ["Стандарт"]
    async with runtime.db.uow() as uow:
        row = await uow.session.get(SlaPolicy, policy_id)
        assert row is not None
        row.name = "VIP"
    async with runtime.db.uow() as uow:
        assert await _policy_names(uow) == ["VIP"]
    await _add_policy(runtime, "Ночь", position=1)
    async with runtime.db.uow() as uow:
        assert await _policy_names(uow) == ["VIP", "Ночь"]


async def test_a_bulk_update_is_seen_and_the_writer_reads_its_own_edit(runtime: Runtime) -> None:
    await _add_policy(runtime, "Стандарт")
    async with runtime.db.uow() as uow:
        assert await _policy_names(uow) == ["Стандарт"]
    async with runtime.db.uow() as uow:
        await uow.session.execute(update(SlaPolicy).values(is_active=False))
        # The writing transaction bypasses the cache and sees its uncommitted edit ...
        assert await _policy_names(uow) == []
        # ... while another transaction still sees (and may cache) the committed state.
        async with runtime.db.reader() as other:
            assert await _policy_names(other) == ["Стандарт"]
    async with runtime.db.uow() as uow:
        assert await _policy_names(uow) == []


async def test_a_rolled_back_edit_is_never_cached(runtime: Runtime) -> None:
    policy_id = await _add_policy(runtime, "Стандарт")

    async def edit_then_fail() -> None:
        async with runtime.db.uow() as uow:
            row = await uow.session.get(SlaPolicy, policy_id)
            assert row is not None
            row.name = "Черновик"
            await uow.session.flush()
            assert await _policy_names(uow) == ["Черновик"]
            raise RuntimeError("the admin's request failed")

    with pytest.raises(RuntimeError):
        await edit_then_fail()
    async with runtime.db.uow() as uow:
        assert await _policy_names(uow) == ["Стандарт"]


async def test_another_process_edit_is_seen_after_the_ttl(runtime: Runtime, statements: Statements) -> None:
    """Another process's write empties nothing here: the entry's age brings the edit in."""
    async with runtime.db.uow() as uow:
        uow.session.add(Channel(type="webchat", name="Чат", settings={"public_key": "shop-key-1"}))
    async with runtime.db.uow() as uow:
        assert [c.name for c in await webchat_repo.active_channels(uow.session)] == ["Чат"]
    # A write this process's sessions never saw, like another process's.
    async with runtime.db.engine.begin() as conn:
        await conn.execute(update(Channel).values(name="Чат магазина"))
    async with runtime.db.uow() as uow:
        assert [c.name for c in await webchat_repo.active_channels(uow.session)] == ["Чат"]
    runtime.db.cache.ttl = 0.0
    async with runtime.db.uow() as uow:
        assert [c.name for c in await webchat_repo.active_channels(uow.session)] == ["Чат магазина"]


async def test_a_new_automation_rule_applies_to_the_next_event(runtime: Runtime) -> None:
    async with runtime.db.uow() as uow:
        assert await automation_reactions._rules(uow) == []
    async with runtime.db.uow() as uow:
        uow.session.add(
            Rule(
                name="Тег",
                position=0,
                events=["ticket_created"],
                conditions={"all": [], "any": []},
                actions=[{"type": "add_tags", "tags": ["auto"]}],
            )
        )
    async with runtime.db.uow() as uow:
        assert [r.name for r in await automation_reactions._rules(uow)] == ["Тег"]


async def test_cached_rows_are_copies_detached_from_any_session(runtime: Runtime) -> None:
    async with runtime.db.uow() as uow:
        uow.session.add(Channel(type="webchat", name="Чат", settings={"public_key": "shop-key-1"}))
    async with runtime.db.uow() as uow:
        (first,) = await webchat_repo.active_channels(uow.session)
        assert first not in uow.session
    async with runtime.db.uow() as uow:
        (again,) = await webchat_repo.active_channels(uow.session)
    assert again is first and again.settings == {"public_key": "shop-key-1"}


async def test_a_session_without_a_cache_reads_every_time(runtime: Runtime) -> None:
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        return calls

    async with runtime.db.uow() as uow:
        uow.session.info.pop("opora.read_cache")
        assert await readcache.cached(uow.session, "k", load) == 1
        assert await readcache.cached(uow.session, "k", load) == 2


async def test_a_savepoint_rolled_back_keeps_the_writer_off_the_cache(runtime: Runtime) -> None:
    policy_id = await _add_policy(runtime, "Стандарт")
    async with runtime.db.uow() as uow:
        assert await _policy_names(uow) == ["Стандарт"]

    async def edit_then_fail() -> None:
        async with runtime.db.uow() as uow:
            row = await uow.session.get(SlaPolicy, policy_id)
            assert row is not None
            row.name = "VIP"
            await uow.session.flush()
            async with uow.session.begin_nested() as savepoint:
                uow.session.add(SlaPolicy(name="Черновик", position=5, conditions={}, targets=TARGETS))
                await uow.session.flush()
                await savepoint.rollback()
            # Still the writer of "VIP": it reads its own edit and must not cache it.
            assert await _policy_names(uow) == ["VIP"]
            raise RuntimeError("the admin's request failed")

    with pytest.raises(RuntimeError):
        await edit_then_fail()
    async with runtime.db.uow() as uow:
        assert await _policy_names(uow) == ["Стандарт"]


async def test_a_zero_ttl_from_the_settings_reads_every_time(tmp_path: Path) -> None:
    """``OPORA_READ_CACHE_SECONDS=0``: for a process whose database is rewritten under it."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}"
    settings = settings_for(tmp_path, url).model_copy(update={"read_cache_seconds": 0.0})
    runtime = build_runtime(settings)
    assert runtime.db.cache.ttl == 0.0
    counter = Statements()
    event.listen(runtime.db.engine.sync_engine, "before_cursor_execute", counter)
    try:
        await asyncio.to_thread(upgrade, url)
        async with runtime.db.uow() as uow:
            await _policy_names(uow)
        before = counter.count
        async with runtime.db.uow() as uow:
            await _policy_names(uow)
        assert counter.count > before
    finally:
        event.remove(runtime.db.engine.sync_engine, "before_cursor_execute", counter)
        await runtime.db.dispose()
