"""Device events through the real endpoint: auth, rules, proactive tickets, dedupe, notices."""

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from opora.channels.devices.models import DeviceEvent
from opora.channels.devices.rules import Rule, load_rules, opens_ticket, priority_for
from opora.events.models import TicketEvent
from opora.jobs.models import Job
from opora.jobs.worker import Worker
from opora.runtime import Runtime
from opora.tickets.models import Message, Ticket
from tests.support.factories import Desk
from tests.support.snapshot import snapshot

API_KEY = "device-api-key-0123456789"
HMAC_SECRET = "device-hmac-secret-0123456789"
RULES = [{"min_severity": "error"}, {"codes": ["FILTER_CLOGGED"]}]


@pytest.fixture
async def channel_id(client: httpx.AsyncClient, desk: Desk) -> int:
    answer = await client.post(
        "/api/v1/channels",
        json={
            "type": "device",
            "name": "Boilers",
            "settings": {"rules": RULES, "language": "ru"},
            "secrets": {"api_key": API_KEY, "hmac_secret": HMAC_SECRET},
        },
        headers=desk.admin_h,
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


@pytest.fixture
async def mail_channel(client: httpx.AsyncClient, desk: Desk) -> int:
    answer = await client.post(
        "/api/v1/channels",
        json={"type": "email", "name": "Mail", "settings": {"address": "support@shop.test"}},
        headers=desk.admin_h,
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def event(
    event_id: str, *, severity: str = "critical", code: str = "PRESSURE_LOW", **extra: Any
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "device_id": "boiler-7",
        "customer": {"email": "Irina@Example.ru", "external_id": "cust-42"},
        "severity": severity,
        "code": code,
        "text": "Давление 0.4 бар",
        **extra,
    }


async def send(
    client: httpx.AsyncClient, channel_id: int, body: dict[str, Any], *, key: str = API_KEY
) -> httpx.Response:
    return await client.post(
        f"/api/v1/devices/{channel_id}/events", json=body, headers={"Authorization": f"Bearer {key}"}
    )


async def drain(runtime: Runtime) -> None:
    await Worker(runtime, concurrency=1, poll_seconds=0.05).run_until_idle()


async def rows(runtime: Runtime, model: Any) -> list[Any]:
    async with runtime.db.uow() as uow:
        return list((await uow.session.scalars(select(model).order_by(model.id))).all())


async def test_bad_credentials_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, channel_id: int, runtime: Runtime
) -> None:
    before = await snapshot(runtime)
    assert (await send(client, channel_id, event("e1"), key="wrong-key")).status_code == 401
    unsigned = await client.post(f"/api/v1/devices/{channel_id}/events", json=event("e1"))
    assert unsigned.status_code == 401
    body = json.dumps(event("e1")).encode()
    forged = await client.post(
        f"/api/v1/devices/{channel_id}/events",
        content=body,
        headers={"Content-Type": "application/json", "X-Opora-Signature": "sha256=" + "0" * 64},
    )
    assert forged.status_code == 401
    assert await snapshot(runtime) == before


async def test_event_below_the_rules_opens_no_ticket(
    client: httpx.AsyncClient, channel_id: int, runtime: Runtime
) -> None:
    answer = await send(client, channel_id, event("e1", severity="warning", code="TEMP_DRIFT"))
    assert answer.status_code == 202 and answer.json() == {"accepted": True, "duplicate": False}
    await drain(runtime)
    assert await rows(runtime, Ticket) == []
    [stored] = await rows(runtime, DeviceEvent)
    assert stored.state == "ignored"


async def test_event_above_the_rules_opens_a_ticket_and_tells_the_customer_and_repeats_join_it(
    client: httpx.AsyncClient, channel_id: int, mail_channel: int, runtime: Runtime
) -> None:
    assert (await send(client, channel_id, event("e1"))).status_code == 202
    await drain(runtime)
    [ticket] = await rows(runtime, Ticket)
    assert ticket.channel_type == "device"
    assert ticket.priority == "urgent"
    assert ticket.subject == "Устройство boiler-7: PRESSURE_LOW"
    device_message, notice = await rows(runtime, Message)
    assert device_message.direction == "in" and device_message.metadata_["kind"] == "device"
    assert "Давление 0.4 бар" in device_message.text
    # The customer hears about it on their channel (mail here) before they write.
    assert notice.direction == "out" and notice.author_type == "system" and not notice.is_internal
    assert notice.channel_id == mail_channel
    assert notice.metadata_["kind"] == "device_notice"
    assert f"#{ticket.id}" in notice.text and "boiler-7" in notice.text
    jobs = [j for j in await rows(runtime, Job) if j.task == "messages.deliver"]
    assert [j.payload["message_id"] for j in jobs] == [notice.id]
    # No SMTP server is configured in tests, so the outbox's attempt fails visibly.
    assert notice.delivery_status == "failed" and "SMTP" in (notice.delivery_error or "")

    # The same device and code again, signed instead of keyed: the same ticket, no second notice.
    body = json.dumps(event("e2", severity="error")).encode()
    signature = hmac.new(HMAC_SECRET.encode(), body, hashlib.sha256).hexdigest()
    again = await client.post(
        f"/api/v1/devices/{channel_id}/events",
        content=body,
        headers={"Content-Type": "application/json", "X-Opora-Signature": f"sha256={signature}"},
    )
    assert again.status_code == 202
    await drain(runtime)
    assert [t.id for t in await rows(runtime, Ticket)] == [ticket.id]
    messages = await rows(runtime, Message)
    assert [m.metadata_.get("kind") for m in messages] == ["device", "device_notice", "device"]
    kinds = [e.kind for e in await rows(runtime, TicketEvent) if e.ticket_id == ticket.id]
    assert kinds.count("device_event") == 2
    assert "priority_changed" in kinds and "tags_changed" in kinds
    states = [e.state for e in await rows(runtime, DeviceEvent)]
    assert states == ["opened", "added"]


async def test_a_code_from_the_rules_opens_a_ticket_without_a_notice_channel(
    client: httpx.AsyncClient, channel_id: int, runtime: Runtime
) -> None:
    body = event("e9", severity="info", code="FILTER_CLOGGED", customer={"phone": "8 916 123-45-67"})
    assert (await send(client, channel_id, body)).status_code == 202
    await drain(runtime)
    [ticket] = await rows(runtime, Ticket)
    assert ticket.priority == "normal"
    [message] = await rows(runtime, Message)  # no channel can carry a notice to a phone number
    assert message.metadata_["device"]["code"] == "FILTER_CLOGGED"


async def test_the_same_event_id_twice_is_one_message(
    client: httpx.AsyncClient, channel_id: int, runtime: Runtime
) -> None:
    assert (await send(client, channel_id, event("e1"))).json()["duplicate"] is False
    assert (await send(client, channel_id, event("e1"))).json()["duplicate"] is True
    await drain(runtime)
    assert len(await rows(runtime, DeviceEvent)) == 1
    assert len([m for m in await rows(runtime, Message) if m.direction == "in"]) == 1


async def test_invalid_event_is_refused(client: httpx.AsyncClient, channel_id: int, runtime: Runtime) -> None:
    before = await snapshot(runtime)
    answer = await send(client, channel_id, {**event("e1"), "severity": "apocalyptic"})
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "severity"
    no_customer = await send(client, channel_id, {**event("e2"), "customer": {}})
    assert no_customer.status_code == 422
    assert await snapshot(runtime) == before


def test_rules_are_a_pure_decision() -> None:
    rules = load_rules(RULES)
    assert opens_ticket(rules, "error", "ANY")
    assert opens_ticket(rules, "info", "FILTER_CLOGGED")
    assert not opens_ticket(rules, "warning", "TEMP_DRIFT")
    assert opens_ticket((), "error", "X") and not opens_ticket((), "warning", "X")
    assert opens_ticket((Rule(min_severity="warning", codes=frozenset({"A"})),), "critical", "A")
    assert not opens_ticket((Rule(min_severity="warning", codes=frozenset({"A"})),), "critical", "B")
    assert (priority_for("critical"), priority_for("error"), priority_for("warning")) == (
        "urgent",
        "high",
        "normal",
    )
    with pytest.raises(ValueError, match="min_severity"):
        load_rules([{"min_severity": "fatal"}])
