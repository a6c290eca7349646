"""Incident pages in both languages; agents read, supervisors act."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from opora.incidents.models import Incident, IncidentTicket
from opora.jobs.models import Job
from opora.runtime import Runtime
from tests.quality.test_pages import page_for
from tests.support.factories import Desk
from tests.support.snapshot import snapshot
from tests.surveys.support import make_ticket


async def test_supervisor_opens_links_and_posts_from_the_pages(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    sergey = await page_for(client, runtime, desk.supervisor)
    listing = await sergey.get("/incidents")
    assert listing.status_code == 200 and "Открыть инцидент" in listing.text
    r = await sergey.post("/incidents", {"title": "Не проходят платежи", "status_text": "Чиним шлюз"})
    assert r.status_code == 303
    async with runtime.db.uow() as uow:
        incident = (await uow.session.scalars(select(Incident))).one()
    a = await make_ticket(runtime, None, email="a@x.ru")
    b = await make_ticket(runtime, None, email="b@x.ru")
    assert (
        await sergey.post(f"/incidents/{incident.id}/link", {"ticket_ids": f"#{a}, {b}"})
    ).status_code == 303
    detail = await sergey.get(f"/incidents/{incident.id}")
    assert "Чиним шлюз" in detail.text and f'href="/tickets/{b}"' in detail.text and "вручную" in detail.text
    assert (await sergey.post(f"/incidents/{incident.id}/updates", {"text": "Уже почти"})).status_code == 303
    async with runtime.db.uow() as uow:
        links = list(await uow.session.scalars(select(IncidentTicket)))
        jobs = list(await uow.session.scalars(select(Job).where(Job.task == "incidents.post_update")))
    assert len(links) == 2 and len(jobs) == 2
    empty = await sergey.post(f"/incidents/{incident.id}/updates", {"text": ""})
    assert empty.status_code == 422 and "Сначала напишите сообщение." in empty.text


async def test_agents_read_incidents_in_english_but_may_not_change_them(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    async with runtime.db.uow() as uow:
        incident = Incident(title="Payments down", status="investigating", status_text="Working on it")
        uow.session.add(incident)
        await uow.session.flush()
    olga = await page_for(client, runtime, desk.olga, "en")
    listing = await olga.get("/incidents")
    assert (
        listing.status_code == 200
        and "Payments down" in listing.text
        and "Open an incident" not in listing.text
    )
    detail = await olga.get(f"/incidents/{incident.id}")
    assert "Working on it" in detail.text and "Send the update" not in detail.text
    before = await snapshot(runtime)
    assert (await olga.post("/incidents", {"title": "x"})).status_code == 403
    assert (await olga.post(f"/incidents/{incident.id}/resolve", {"text": "done"})).status_code == 403
    assert await snapshot(runtime) == before
