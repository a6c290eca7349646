"""CSAT: the survey after solve, the signed link, the one answer, the follow-up of bad ratings."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from opora.events.models import TicketEvent
from opora.jobs.models import Job
from opora.kit.time import utcnow
from opora.notifications.models import Notification
from opora.runtime import Runtime
from opora.surveys import service, tokens
from opora.surveys.models import CsatSurvey
from opora.tickets.models import Message, TicketTag
from tests.support.factories import Desk
from tests.support.snapshot import snapshot
from tests.surveys.support import drain, event_kinds, make_channel, make_ticket, sending_channel

API = "/api/v1/surveys"


@pytest.fixture(autouse=True)
def _channel_type() -> Iterator[None]:
    with sending_channel():
        yield


async def set_status(client: httpx.AsyncClient, desk: Desk, ticket_id: int, status: str) -> None:
    r = await client.patch(f"/api/v1/tickets/{ticket_id}", json={"status": status}, headers=desk.supervisor_h)
    assert r.status_code == 200, r.text


async def no_delay(client: httpx.AsyncClient, desk: Desk) -> None:
    r = await client.patch(f"{API}/settings", json={"delay_minutes": 0}, headers=desk.admin_h)
    assert r.status_code == 200, r.text


async def surveys(runtime: Runtime) -> list[CsatSurvey]:
    async with runtime.db.uow() as uow:
        return list(await uow.session.scalars(select(CsatSurvey).order_by(CsatSurvey.id)))


async def send_jobs(runtime: Runtime) -> list[Job]:
    async with runtime.db.uow() as uow:
        return list(await uow.session.scalars(select(Job).where(Job.task == service.SEND_TASK)))


async def sent_link(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk, *, language: str | None = None
) -> tuple[int, str]:
    """A solved ticket whose survey went out; returns the ticket and the link's token."""
    await no_delay(client, desk)
    channel_id = await make_channel(runtime)
    ticket_id = await make_ticket(runtime, channel_id, assignee_id=desk.olga.id, language=language)
    await set_status(client, desk, ticket_id, "solved")
    await drain(runtime)
    async with runtime.db.uow() as uow:
        survey_message = (
            await uow.session.scalars(
                select(Message).where(Message.ticket_id == ticket_id, Message.direction == "out")
            )
        ).one()
    match = re.search(r"/survey/([\w.\-]+)", survey_message.text)
    assert match, survey_message.text
    return ticket_id, match.group(1)


async def test_solving_queues_one_survey_with_the_delay_and_never_a_second(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    channel_id = await make_channel(runtime)
    ticket_id = await make_ticket(runtime, channel_id, assignee_id=desk.olga.id, team_id=desk.support.id)
    before = utcnow()
    await set_status(client, desk, ticket_id, "solved")
    [survey] = await surveys(runtime)
    [job] = await send_jobs(runtime)
    assert survey.ticket_id == ticket_id and survey.status == "scheduled"
    assert survey.agent_id == desk.olga.id and survey.team_id == desk.support.id
    assert job.payload == {"ticket_id": ticket_id}
    assert job.run_at >= before + timedelta(minutes=60)  # the default delay
    # Reopened and solved again before the send: still the one survey and the one job.
    await set_status(client, desk, ticket_id, "open")
    await set_status(client, desk, ticket_id, "solved")
    assert len(await surveys(runtime)) == 1 and len(await send_jobs(runtime)) == 1


async def test_the_survey_goes_out_on_the_customers_channel_once(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    ticket_id, token = await sent_link(client, runtime, desk)
    [survey] = await surveys(runtime)
    assert survey.status == "sent" and survey.expires_at is not None
    async with runtime.db.uow() as uow:
        message = await uow.session.get(Message, survey.message_id)
    assert message is not None and message.author_type == "system" and message.channel_id is not None
    assert message.delivery_status == "sent"  # delivered by the fake channel
    assert message.metadata_["automatic"] is True
    assert "Ирина" in message.text and f"№{ticket_id}" in message.text
    assert (
        tokens.verify(tokens.link_key(runtime.settings.resolved_secret_key()), token, utcnow()) == survey.id
    )
    # Solved again later: no second survey, no second message.
    await set_status(client, desk, ticket_id, "open")
    await set_status(client, desk, ticket_id, "solved")
    await drain(runtime)
    assert len(await surveys(runtime)) == 1
    assert len(await send_jobs(runtime)) == 1


async def test_a_ticket_reopened_before_the_send_is_surveyed_after_its_next_solve(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    await no_delay(client, desk)
    ticket_id = await make_ticket(runtime, await make_channel(runtime))
    await set_status(client, desk, ticket_id, "solved")
    await set_status(client, desk, ticket_id, "open")
    await drain(runtime)
    assert [s.status for s in await surveys(runtime)] == ["skipped"]
    await set_status(client, desk, ticket_id, "solved")
    await drain(runtime)
    assert [s.status for s in await surveys(runtime)] == ["sent"]


async def test_tickets_without_a_channel_or_with_surveys_off_get_none(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    api_ticket = await make_ticket(runtime, None)
    await set_status(client, desk, api_ticket, "solved")
    r = await client.patch(f"{API}/settings", json={"enabled": False}, headers=desk.admin_h)
    assert r.status_code == 200
    ticket_id = await make_ticket(runtime, await make_channel(runtime), email="b@example.com")
    await set_status(client, desk, ticket_id, "solved")
    assert await surveys(runtime) == []


async def test_the_page_takes_one_answer_and_records_csat_received(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    ticket_id, token = await sent_link(client, runtime, desk)
    page = await client.get(f"/survey/{token}")
    assert page.status_code == 200 and 'name="rating"' in page.text
    assert "Как мы справились?" in page.text  # the customer's language: Russian by default
    assert (await client.get(f"/survey/{token}?lang=en")).text.count("How did we do?") >= 1
    r = await client.post(f"/survey/{token}", data={"rating": "5", "comment": "Спасибо!"})
    assert r.status_code == 200 and "Спасибо за оценку!" in r.text
    [survey] = await surveys(runtime)
    assert (survey.status, survey.rating, survey.comment) == ("answered", 5, "Спасибо!")
    assert survey.follow_up is None
    async with runtime.db.uow() as uow:
        event = (
            await uow.session.scalars(select(TicketEvent).where(TicketEvent.kind == "csat_received"))
        ).one()
    assert event.ticket_id == ticket_id and event.actor_type == "customer"
    assert event.data["rating"] == 5 and event.data["comment"] == "Спасибо!"
    assert event.data["agent_id"] == desk.olga.id
    # The customer's profile shows the rating among the lifetime figures.
    customer_id = (await client.get(f"/api/v1/tickets/{ticket_id}", headers=desk.admin_h)).json()[
        "customer_id"
    ]
    profile = (await client.get(f"/api/v1/customers/{customer_id}/profile", headers=desk.admin_h)).json()
    assert (profile["lifetime"]["csat_average"], profile["lifetime"]["csat_responses"]) == (5.0, 1)
    # A second answer, even a different one within the window, changes nothing.
    before = await snapshot(runtime)
    again = await client.post(f"/survey/{token}", data={"rating": "1", "comment": "передумала"})
    assert again.status_code == 409
    assert await snapshot(runtime) == before
    assert "Вы уже оценили" in (await client.get(f"/survey/{token}")).text


async def test_a_missing_rating_is_refused_with_nothing_stored(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    _ticket_id, token = await sent_link(client, runtime, desk)
    before = await snapshot(runtime)
    r = await client.post(f"/survey/{token}", data={"rating": "9", "comment": "x"})
    assert r.status_code == 422
    assert await snapshot(runtime) == before


async def test_forged_and_expired_links_are_refused_with_nothing_stored(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    _ticket_id, token = await sent_link(client, runtime, desk)
    [survey] = await surveys(runtime)
    survey_id, expires, signature = token.split(".")
    key = tokens.link_key(runtime.settings.resolved_secret_key())
    forged = [
        f"{survey_id}.{int(expires) + 86400}.{signature}",  # a longer life, same signature
        f"{int(survey_id) + 1}.{expires}.{signature}",
        tokens.sign(tokens.link_key("another desk's key"), survey.id, utcnow() + timedelta(days=1)),
        "not-a-token",
    ]
    expired = tokens.sign(key, survey.id, utcnow() - timedelta(seconds=1))
    before = await snapshot(runtime)
    for bad in forged:
        assert (await client.get(f"/survey/{bad}")).status_code == 404
        assert (await client.post(f"/survey/{bad}", data={"rating": "1"})).status_code == 404
    page = await client.get(f"/survey/{expired}")
    assert page.status_code == 410 and "истёк" in page.text
    assert (await client.post(f"/survey/{expired}", data={"rating": "1"})).status_code == 410
    assert await snapshot(runtime) == before


async def test_the_stored_expiry_also_ends_the_link(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    _ticket_id, token = await sent_link(client, runtime, desk)
    async with runtime.db.uow() as uow:
        survey = (await uow.session.scalars(select(CsatSurvey))).one()
        survey.expires_at = utcnow() - timedelta(minutes=1)
    assert (await client.post(f"/survey/{token}", data={"rating": "4"})).status_code == 410


async def test_a_bad_rating_tags_the_ticket_and_tells_the_supervisors(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    ticket_id, token = await sent_link(client, runtime, desk, language="en")
    r = await client.post(f"/survey/{token}", data={"rating": "2", "comment": "Nobody helped"})
    assert r.status_code == 200 and "sorry" in r.text
    [survey] = await surveys(runtime)
    assert survey.follow_up == "open"
    async with runtime.db.uow() as uow:
        tags = list(await uow.session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == ticket_id)))
        notes = list(await uow.session.scalars(select(Notification).where(Notification.kind == "rule")))
    assert tags == ["csat-negative"]
    assert [(n.agent_id, n.kind, n.ticket_id) for n in notes] == [(desk.supervisor.id, "rule", ticket_id)]
    assert "CSAT 2/5" in notes[0].snippet and "Nobody helped" in notes[0].snippet
    kinds = await event_kinds(runtime, ticket_id)
    assert kinds[-3:] == ["csat_received", "tags_changed", "rule_notification"]
    # The supervisor's follow-up list, and closing the follow-up.
    listed = await client.get(f"{API}?follow_up=open", headers=desk.supervisor_h)
    assert [s["id"] for s in listed.json()["items"]] == [survey.id]
    assert (await client.get(f"{API}?follow_up=open", headers=desk.olga_h)).status_code == 403
    done = await client.post(f"{API}/{survey.id}/follow-up/done", headers=desk.supervisor_h)
    assert done.status_code == 200 and done.json()["follow_up"] == "done"
    assert (
        await client.post(f"{API}/{survey.id}/follow-up/done", headers=desk.supervisor_h)
    ).status_code == 409


async def test_reply_templates_thank_or_apologise_in_the_customers_language(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    ticket_id, token = await sent_link(client, runtime, desk)
    await client.post(f"/survey/{token}", data={"rating": "1"})
    [survey] = await surveys(runtime)
    r = await client.post(f"{API}/{survey.id}/reply", json={"kind": "sorry"}, headers=desk.olga_h)
    assert r.status_code == 201, r.text
    assert r.json()["text"].startswith("Ирина, простите") and f"№{ticket_id}" in r.json()["text"]
    assert r.json()["delivery_status"] == "queued"
    # Pavel (Billing) may not see the ticket, so he may not answer it either.
    assert (
        await client.post(f"{API}/{survey.id}/reply", json={"kind": "thanks"}, headers=desk.pavel_h)
    ).status_code == 403


async def test_settings_refuse_unknown_variables_and_only_admins_change_them(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    before = await snapshot(runtime)
    bad = await client.patch(
        f"{API}/settings", json={"survey_texts": {"ru": "{{order.nope}}"}}, headers=desk.admin_h
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "survey_texts.ru"
    assert (
        await client.patch(f"{API}/settings", json={"delay_minutes": 5}, headers=desk.supervisor_h)
    ).status_code == 403
    assert await snapshot(runtime) == before
    got = await client.get(f"{API}/settings", headers=desk.supervisor_h)
    assert got.json()["delay_minutes"] == 60 and "{{survey.link}}" in got.json()["survey_texts"]["en"]


async def test_csat_rows_for_analytics(client: httpx.AsyncClient, runtime: Runtime, desk: Desk) -> None:
    start = utcnow()
    _ticket_id, token = await sent_link(client, runtime, desk)
    await client.post(f"/survey/{token}", data={"rating": "4"})
    async with runtime.db.uow() as uow:
        rows = await service.csat_rows(uow.session, start=start, end=utcnow() + timedelta(seconds=1))
        later = await service.csat_rows(
            uow.session, start=utcnow() + timedelta(hours=1), end=utcnow() + timedelta(hours=2)
        )
    assert [(r.rating, r.agent_id, r.channel_type) for r in rows] == [(4, desk.olga.id, "fakechat")]
    assert later == []


async def test_an_automation_rule_fires_on_csat_received(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    rule = {
        "name": "Rated",
        "events": ["csat_received"],
        "conditions": {},
        "actions": [{"type": "add_note", "text": "Клиент поставил оценку"}],
    }
    r = await client.post("/api/v1/automation/rules", json=rule, headers=desk.admin_h)
    assert r.status_code == 201, r.text
    ticket_id, token = await sent_link(client, runtime, desk)
    await client.post(f"/survey/{token}", data={"rating": "3"})
    async with runtime.db.uow() as uow:
        notes = list(
            await uow.session.scalars(
                select(Message.text).where(Message.ticket_id == ticket_id, Message.is_internal.is_(True))
            )
        )
    assert notes == ["Клиент поставил оценку"]
