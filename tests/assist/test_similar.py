"""Similar solved tickets: found by the stems of the words, ordered, limited to what the agent sees."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import delete, func, select

from opora.agents.models import Role
from opora.assist import service
from opora.assist.models import SolvedDoc, SolvedTerm
from opora.auth.permissions import Principal
from opora.runtime import Runtime
from tests.assist.conftest import open_ticket, reply, solved_ticket
from tests.kb.conftest import make_article
from tests.support.factories import Desk
from tests.web.helpers import count_queries

COURIER = "Курьер так и не привёз посылку, заказ 45811 должен был прийти вчера"
COURIER_ANSWER = "Иван, простите за задержку: курьер приедет завтра до 14:00."
REFUND = "Верните деньги за возврат, товар отправил обратно неделю назад"
REFUND_ANSWER = "Деньги вернутся на карту в течение 10 дней."


async def _similar(
    client: httpx.AsyncClient, headers: dict[str, str], ticket_id: int
) -> list[dict[str, Any]]:
    r = await client.get(f"/api/v1/assist/tickets/{ticket_id}/similar", headers=headers)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


async def test_finds_solved_tickets_about_the_same_thing_best_first(
    client: httpx.AsyncClient, desk: Desk
) -> None:
    team = desk.support.id
    courier = await solved_ticket(client, desk.olga_h, team_id=team, text=COURIER, answer=COURIER_ANSWER)
    partly = await solved_ticket(
        client,
        desk.olga_h,
        team_id=team,
        text="Посылка пришла мятая, курьер был грубым",
        answer="Мы передали жалобу в службу доставки.",
    )
    await solved_ticket(client, desk.olga_h, team_id=team, text=REFUND, answer=REFUND_ANSWER)
    new = await open_ticket(
        client,
        desk.olga_h,
        team_id=team,
        text="Где курьер? Посылку не привезли, заказ 99310",
        email="p@mail.example",
    )
    found = await _similar(client, desk.olga_h, new)
    assert [s["ticket_id"] for s in found] == [courier, partly]
    # The reply that solved it travels with it, for the "insert reply" button.
    assert found[0]["reply_text"] == COURIER_ANSWER
    assert found[0]["score"] > found[1]["score"]
    # Russian morphology: «привезли» found «привёз», «посылку» found «посылку»/«посылка».
    refund = await open_ticket(client, desk.olga_h, team_id=team, text="Когда вернете деньги за возврат?")
    assert [s["reply_text"] for s in await _similar(client, desk.olga_h, refund)] == [REFUND_ANSWER]


async def test_the_reply_is_the_last_public_agent_reply_before_the_solve(
    client: httpx.AsyncClient, desk: Desk
) -> None:
    team = desk.support.id
    ticket = await open_ticket(client, desk.olga_h, team_id=team, text=COURIER)
    await reply(client, desk.olga_h, ticket, "Уточняю у службы доставки.")
    r = await client.post(
        f"/api/v1/tickets/{ticket}/messages",
        json={"text": "Заметка: курьерская служба подтвердила", "internal": True},
        headers=desk.olga_h,
    )
    assert r.status_code == 201, r.text
    await reply(client, desk.olga_h, ticket, COURIER_ANSWER, status="solved")
    new = await open_ticket(client, desk.olga_h, team_id=team, text=COURIER, email="p@mail.example")
    assert [s["reply_text"] for s in await _similar(client, desk.olga_h, new)] == [COURIER_ANSWER]


async def test_only_tickets_the_agent_may_see(client: httpx.AsyncClient, desk: Desk) -> None:
    billing = await solved_ticket(
        client, desk.admin_h, team_id=desk.billing.id, text=COURIER, answer="Ответ биллинга"
    )
    new = await open_ticket(
        client, desk.olga_h, team_id=desk.support.id, text=COURIER, email="p@mail.example"
    )
    # Olga (Support) does not see Billing's ticket; the admin sees every ticket.
    assert await _similar(client, desk.olga_h, new) == []
    assert [s["ticket_id"] for s in await _similar(client, desk.admin_h, new)] == [billing]
    # Nor may she ask about a ticket she cannot see.
    r = await client.get(f"/api/v1/assist/tickets/{billing}/similar", headers=desk.olga_h)
    assert r.status_code == 403


async def test_an_empty_desk_finds_nothing(client: httpx.AsyncClient, desk: Desk) -> None:
    new = await open_ticket(client, desk.olga_h, team_id=desk.support.id, text=COURIER)
    assert await _similar(client, desk.olga_h, new) == []
    only_numbers = await open_ticket(client, desk.olga_h, team_id=desk.support.id, text="45811 !!! ???")
    assert await _similar(client, desk.olga_h, only_numbers) == []
    r = await client.get("/api/v1/assist/tickets/999999/similar", headers=desk.olga_h)
    assert r.status_code == 404


async def test_reopened_and_unanswered_tickets_are_not_offered(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    team = desk.support.id
    reopened = await solved_ticket(client, desk.olga_h, team_id=team, text=COURIER, answer=COURIER_ANSWER)
    r = await client.patch(f"/api/v1/tickets/{reopened}", json={"status": "open"}, headers=desk.olga_h)
    assert r.status_code == 200, r.text
    # Solved without a public reply: nothing to reuse, so nothing is indexed.
    silent = await open_ticket(client, desk.olga_h, team_id=team, text=COURIER, email="s@mail.example")
    r = await client.patch(f"/api/v1/tickets/{silent}", json={"status": "solved"}, headers=desk.olga_h)
    assert r.status_code == 200, r.text
    new = await open_ticket(client, desk.olga_h, team_id=team, text=COURIER, email="p@mail.example")
    assert await _similar(client, desk.olga_h, new) == []
    async with runtime.db.uow() as uow:
        indexed = set((await uow.session.scalars(select(SolvedDoc.ticket_id))).all())
    assert indexed == {reopened}
    # Solved again: offered again, indexed once.
    await reply(client, desk.olga_h, reopened, "Курьер приедет сегодня.", status="solved")
    found = await _similar(client, desk.olga_h, new)
    assert [(s["ticket_id"], s["reply_text"]) for s in found] == [(reopened, "Курьер приедет сегодня.")]
    async with runtime.db.uow() as uow:
        docs = await uow.session.scalar(select(func.count()).select_from(SolvedDoc))
        numbers = await uow.session.scalar(
            select(func.count()).select_from(SolvedTerm).where(SolvedTerm.stem == "45811")
        )
    assert docs == 1 and numbers == 0  # order numbers never enter the index


async def test_reindex_rebuilds_the_index(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    ticket = await solved_ticket(
        client, desk.olga_h, team_id=desk.support.id, text=COURIER, answer=COURIER_ANSWER
    )
    async with runtime.db.uow() as uow:
        await uow.session.execute(delete(SolvedTerm))
        await uow.session.execute(delete(SolvedDoc))
    r = await client.post("/api/v1/assist/reindex", headers=desk.olga_h)
    assert r.status_code == 403
    r = await client.post("/api/v1/assist/reindex", headers=desk.admin_h)
    assert r.status_code == 202 and r.json() == {"queued": True}
    async with runtime.db.uow() as uow:
        done = await service.reindex_batch(uow, after_id=0, limit=50)
    assert done == [ticket]
    new = await open_ticket(
        client, desk.olga_h, team_id=desk.support.id, text=COURIER, email="p@mail.example"
    )
    assert [s["ticket_id"] for s in await _similar(client, desk.olga_h, new)] == [ticket]


async def test_the_panel_takes_the_same_queries_however_many_tickets_match(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    team = desk.support.id
    principal = Principal(desk.olga.id, Role(desk.olga.role), frozenset({team}), "session")
    # With no matching article the KB search retries with typo corrections, a query per word of
    # the ticket (at most 32): bounded, but the guard below is about the panel's own queries.
    await make_article(
        client, desk.admin_h, publish_h=desk.admin_h, title="Курьер не привёз посылку", body_md="Что делать."
    )
    await solved_ticket(client, desk.olga_h, team_id=team, text=COURIER, answer=COURIER_ANSWER)
    new = await open_ticket(client, desk.olga_h, team_id=team, text=COURIER, email="p@mail.example")

    seen: list[str] = []

    async def panel_queries() -> tuple[int, int]:
        async with runtime.db.uow() as uow:
            await service.panel(uow, principal, new)  # warm: the FTS table exists, caches are full
            with count_queries(runtime) as statements:
                found = await service.panel(uow, principal, new)
        seen[:] = statements
        return len(statements), len(found.similar)

    few, shown_few = await panel_queries()
    for i in range(8):
        await solved_ticket(
            client, desk.olga_h, team_id=team, text=COURIER, answer=f"Ответ {i}", email=f"c{i}@mail.example"
        )
    many, shown_many = await panel_queries()
    assert (shown_few, shown_many) == (1, 3)
    assert few == many
    assert many <= 12, "\n".join(s[:120] for s in seen)


async def test_erasing_a_customer_takes_their_words_out_of_the_index(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    team = desk.support.id
    erased = await solved_ticket(client, desk.olga_h, team_id=team, text=COURIER, answer=COURIER_ANSWER)
    kept = await solved_ticket(
        client, desk.olga_h, team_id=team, text=REFUND, answer=REFUND_ANSWER, email="k@mail.example"
    )
    ticket = (await client.get(f"/api/v1/tickets/{erased}", headers=desk.admin_h)).json()
    customer_id = ticket["customer_id"]
    r = await client.post(
        f"/api/v1/privacy/customers/{customer_id}/erase", json={"confirm": customer_id}, headers=desk.admin_h
    )
    assert r.status_code == 200, r.text
    async with runtime.db.uow() as uow:
        docs = set((await uow.session.scalars(select(SolvedDoc.ticket_id))).all())
        terms = set((await uow.session.scalars(select(SolvedTerm.ticket_id))).all())
    assert docs == terms == {kept}
