"""The starter synonyms (migration 0026): written once per desk, never over an admin's choice,
and every group can actually match a query."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from alembic import command
from sqlalchemy import text

from opora.db import Database
from opora.kb.search import query
from opora.kb.search.synonyms import compile_groups
from opora.kit.text import STOPWORDS, words
from opora.migrate import MIGRATIONS_DIR, alembic_config, upgrade
from tests.kb.conftest import KB, PUBLIC, hit_ids, make_article
from tests.support import services
from tests.support.factories import Desk


def _revision() -> ModuleType:
    path = MIGRATIONS_DIR / "versions" / "0026_kb_starter_synonyms.py"
    spec = importlib.util.spec_from_file_location("kb_starter_synonyms", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STARTER = _revision().STARTER_GROUPS


@pytest.fixture
async def fresh_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own: the shared test database has had the migration's rows removed."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'starter.db'}"
        return
    name = f"opora_test_starter_{uuid.uuid4().hex[:8]}"
    url = await asyncio.to_thread(services.create_pg_database, name)
    try:
        yield url
    finally:
        await asyncio.to_thread(services.drop_pg_database, name)


async def _groups(url: str) -> list[list[str]]:
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            rows = await connection.execute(text("SELECT phrases FROM kb_synonyms ORDER BY id"))
            # SQLite hands JSON back as text through a raw statement; PostgreSQL as a list.
            return [json.loads(p) if isinstance(p, str) else list(p) for (p,) in rows]
    finally:
        await database.dispose()


async def _execute(url: str, statement: str, **params: object) -> None:
    database = Database(url)
    try:
        async with database.engine.begin() as connection:
            await connection.execute(text(statement), params)
    finally:
        await database.dispose()


async def test_written_once_beside_an_admins_group_and_never_again(fresh_url: str) -> None:
    await asyncio.to_thread(upgrade, fresh_url, "0025")
    # A desk upgrading with its own group for pickup points keeps it, and gets no second one.
    await _execute(
        fresh_url,
        "INSERT INTO kb_synonyms (phrases, created_at, updated_at) VALUES (:p, :at, :at)",
        p='["пункт выдачи", "ПВЗ"]',
        at="2026-12-01 10:00:00+00:00",
    )
    await asyncio.to_thread(upgrade, fresh_url)
    groups = await _groups(fresh_url)
    assert groups[0] == ["пункт выдачи", "ПВЗ"]
    assert not any("постамат" in g for g in groups)
    assert len(groups) == 1 + len(STARTER) - 1
    assert ["посылка", "отправление", "заказ"] in groups and ["invoice", "bill"] in groups

    # The admin deletes a starter group: running the migrations again does not bring it back.
    await _execute(fresh_url, "DELETE FROM kb_synonyms WHERE CAST(phrases AS TEXT) LIKE '%invoice%'")
    await asyncio.to_thread(upgrade, fresh_url)
    after = await _groups(fresh_url)
    assert ["invoice", "bill"] not in after and len(after) == len(groups) - 1

    # Going down takes away only the unedited starter groups, never the desk's own.
    await asyncio.to_thread(command.downgrade, alembic_config(fresh_url), "0025")
    assert await _groups(fresh_url) == [["пункт выдачи", "ПВЗ"]]


def test_every_starter_group_can_match_a_query() -> None:
    for group in STARTER:
        # A stop word is dropped from the query before synonyms are matched, so a phrase holding
        # one («log in») could never be found; and a group needs two different stemmed phrases.
        assert not [w for p in group for w in words(p) if w in STOPWORDS], group
        assert compile_groups([group]), group
    compiled = compile_groups(STARTER)
    assert len(compiled) == len(STARTER)
    # No word opens two groups: only one group can apply at a place in the query.
    firsts = [phrase for group in compiled for phrase in group]
    assert len(firsts) == len(set(firsts))
    parsed = query.parse("где ближайший постамат", synonyms=compiled)
    assert parsed.clauses[-1].alternatives == (
        ("пункт", "выдач"),
        ("пвз",),
        ("постамат",),
        ("пункт", "самовывоз"),
    )


async def test_starter_groups_find_the_shops_words(client: httpx.AsyncClient, desk: Desk) -> None:
    for group in STARTER:
        r = await client.post(f"{KB}/synonyms", json={"phrases": list(group)}, headers=desk.admin_h)
        assert r.status_code == 201, r.text
    sup = desk.supervisor_h
    pickup = await make_article(
        client, desk.olga_h, title="Пункты выдачи", body_md="Заберите заказ в пункте выдачи.", publish_h=sup
    )
    invoice = await make_article(
        client,
        desk.olga_h,
        language="en",
        title="Getting an invoice",
        body_md="Download the invoice from your orders page.",
        publish_h=sup,
    )
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "постамат у дома"})) == [pickup["id"]]
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "where is my bill"})) == [invoice["id"]]
