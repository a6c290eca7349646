"""The enrichment reactor writes to tickets created through the API, before routing sees them."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from opora.events.models import TicketEvent
from opora.runtime import Runtime
from opora.tickets.models import Message
from tests.support.factories import Desk


def _ticket(team: int, text: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": "Вопрос",
        "customer": {"identity": {"kind": "email", "value": "anna@mail.example"}, "name": "Анна"},
        "message": {"text": text, "author": "customer"},
        "team_id": team,
    }
    body.update(extra)
    return body


async def test_reactor_enriches_a_new_ticket(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    text = "БЕЗОБРАЗИЕ!!! Заказ №4581-22 не доставлен, верните деньги срочно. Мой телефон +7 912 345-67-89"
    r = await client.post("/api/v1/tickets", json=_ticket(desk.support.id, text), headers=desk.olga_h)
    assert r.status_code == 201, r.text
    ticket = (await client.get(f"/api/v1/tickets/{r.json()['id']}", headers=desk.olga_h)).json()
    assert ticket["topic"] == "refunds"
    fields = ticket["custom_fields"]
    assert fields["order_numbers"] == ["4581-22"] and fields["phones"] == ["+79123456789"]
    assert (
        fields["ai_sentiment"] == "negative" and fields["ai_urgency"] == "high" and fields["ai_anger"] >= 0.5
    )
    assert {"ai-angry", "ai-urgent"} <= set(ticket["tags"])
    async with runtime.db.uow() as uow:
        kinds = (
            await uow.session.scalars(
                select(TicketEvent.kind).where(
                    TicketEvent.ticket_id == ticket["id"], TicketEvent.actor_type == "system"
                )
            )
        ).all()
        meta = (
            await uow.session.scalars(select(Message.metadata_).where(Message.ticket_id == ticket["id"]))
        ).one()
    assert {"topic_changed", "fields_changed", "tags_changed"} <= set(kinds)
    assert meta["ai"]["order_numbers"] == ["4581-22"]


async def test_set_topic_and_agent_notes_are_left_alone(client: httpx.AsyncClient, desk: Desk) -> None:
    body = _ticket(desk.support.id, "Hello, promo code does not work", topic="vip", language="en")
    r = await client.post("/api/v1/tickets", json=body, headers=desk.olga_h)
    ticket = (await client.get(f"/api/v1/tickets/{r.json()['id']}", headers=desk.olga_h)).json()
    assert ticket["topic"] == "vip" and ticket["language"] == "en"
    note = {"text": "ЭТО БЕЗОБРАЗИЕ!!! заказ 99887766", "internal": True}
    r = await client.post(f"/api/v1/tickets/{ticket['id']}/messages", json=note, headers=desk.olga_h)
    assert r.status_code == 201, r.text
    after = (await client.get(f"/api/v1/tickets/{ticket['id']}", headers=desk.olga_h)).json()
    assert "ai-angry" not in after["tags"] and "99887766" not in after["custom_fields"].get(
        "order_numbers", []
    )
