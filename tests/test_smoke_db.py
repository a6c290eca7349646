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
