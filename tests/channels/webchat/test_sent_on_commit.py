"""A chat reply is recorded as sent by its own transaction (ADR 0036): the same status and
``message_delivery`` event the delivery job wrote, and no job. Channel edits reach the widget
at once through the per-process cache."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from opora.events.models import TicketEvent
from opora.jobs.models import Job
from opora.runtime import Runtime
from opora.tickets.models import Message
from tests.channels.webchat.support import PUBLIC_KEY, AsgiSocket, session
from tests.support.factories import Desk


async def _ask(app: FastAPI, http: httpx.AsyncClient) -> tuple[dict[str, Any], int]:
    visitor = await session(http)
    async with AsgiSocket(app) as socket:
        await socket.hello(visitor["token"])
        await socket.send({"type": "message", "client_id": "m1", "text": "Где мой заказ?"})
        stored = (await socket.receive_types("ack", "message"))["message"]
    return visitor, int(stored["message"]["ticket_id"])


async def _delivery(runtime: Runtime, message_id: int) -> tuple[str, str | None, list[dict[str, Any]], int]:
    async with runtime.db.reader() as uow:
        message = await uow.session.get(Message, message_id)
        assert message is not None
        events = (
            await uow.session.scalars(
                select(TicketEvent.data).where(
                    TicketEvent.ticket_id == message.ticket_id, TicketEvent.kind == "message_delivery"
                )
            )
        ).all()
        jobs = await uow.session.scalar(
            select(func.count()).select_from(Job).where(Job.task == "messages.deliver")
        )
        return message.delivery_status, message.delivery_error, list(events), int(jobs or 0)


async def test_a_reply_is_sent_with_its_commit_and_pushed_as_sent(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime, desk: Desk
) -> None:
    visitor, ticket_id = await _ask(app, http)
    async with AsgiSocket(app) as socket:
        await socket.hello(visitor["token"])
        r = await http.post(
            f"/api/v1/tickets/{ticket_id}/messages", headers=desk.olga_h, json={"text": "Уже в пути."}
        )
        assert r.status_code == 201, r.text
        answer = int(r.json()["id"])
        pushed = (await socket.receive_type("message"))["message"]
    assert (pushed["id"], pushed["status"]) == (answer, "sent")
    status, error, events, jobs = await _delivery(runtime, answer)
    assert (status, error, jobs) == ("sent", None, 0)
    assert events == [{"message_id": answer, "status": "sent", "error": None}]


async def test_a_reply_on_a_deactivated_channel_fails_like_the_job_said(
    app: FastAPI, http: httpx.AsyncClient, chat: dict[str, Any], runtime: Runtime, desk: Desk
) -> None:
    _, ticket_id = await _ask(app, http)
    off = await http.patch(f"/api/v1/channels/{chat['id']}", json={"is_active": False}, headers=desk.admin_h)
    assert off.status_code == 200, off.text
    # The edit reaches the widget at once, although its channel was cached by the first message.
    r = await http.post("/widget/v1/session", json={"channel": PUBLIC_KEY})
    assert r.status_code == 404, r.text
    r = await http.post(f"/api/v1/tickets/{ticket_id}/messages", headers=desk.olga_h, json={"text": "Ответ"})
    assert r.status_code == 201, r.text
    answer = int(r.json()["id"])
    status, error, events, jobs = await _delivery(runtime, answer)
    assert (status, error, jobs) == ("failed", "channel 'Чат на сайте' is deactivated", 0)
    assert events == [{"message_id": answer, "status": "failed", "error": error}]
