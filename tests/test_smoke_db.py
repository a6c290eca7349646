import asyncio

from sqlalchemy import select

from opora.agents.models import Agent
from opora.runtime import Runtime


async def test_unit_of_work_commits_and_rolls_back(runtime: Runtime) -> None:
    async with runtime.db.uow() as uow:
        uow.session.add(Agent(email="a@example.com", name="A"))
    try:
        async with runtime.db.uow() as uow:
            uow.session.add(Agent(email="b@example.com", name="B"))
            await uow.session.flush()
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with runtime.db.uow() as uow:
        emails = (await uow.session.scalars(select(Agent.email))).all()
    assert emails == ["a@example.com"]


async def test_a_reader_reads_committed_rows_beside_an_open_write_transaction(runtime: Runtime) -> None:
    async with runtime.db.uow() as uow:
        uow.session.add(Agent(email="a@example.com", name="A"))
    async with runtime.db.uow() as writer:
        writer.session.add(Agent(email="b@example.com", name="B"))
        await writer.session.flush()  # holds SQLite's one write lock until the block ends
        # A plain unit of work would wait here for that lock (up to the 30 s busy timeout).
        async with asyncio.timeout(2), runtime.db.reader() as reader:
            emails = (await reader.session.scalars(select(Agent.email))).all()
    assert emails == ["a@example.com"]
