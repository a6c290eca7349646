"""Outbound webhooks: signed, durable, retried with backoff, logged, and never to private addresses
unless an admin allowed them. The receiver is a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from opora.automation import webhooks
from opora.jobs.models import Job
from opora.jobs.worker import Worker
from opora.runtime import Runtime
from tests.automation.helpers import make_rule, make_ticket
from tests.automation.receiver import Answer, Receiver, running_receiver
from tests.jobs.helpers import make_due
from tests.support.factories import Desk
from tests.support.snapshot import snapshot

BASE = "/api/v1/automation"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as r:
        yield r


async def make_webhook(client: httpx.AsyncClient, desk: Desk, url: str, **extra: Any) -> dict[str, Any]:
    r = await client.post(f"{BASE}/webhooks", json={"name": "CRM", "url": url, **extra}, headers=desk.admin_h)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def allow_localhost(client: httpx.AsyncClient, desk: Desk) -> None:
    r = await client.post(
        f"{BASE}/outbound-allow", json={"network": "127.0.0.1", "note": "tests"}, headers=desk.admin_h
    )
    assert r.status_code == 201, r.text
    assert r.json()["network"] == "127.0.0.1/32"


async def drain(runtime: Runtime) -> int:
    return await Worker(runtime, concurrency=1, poll_seconds=0.05).run_until_idle()


async def deliveries(client: httpx.AsyncClient, desk: Desk, webhook_id: int) -> list[dict[str, Any]]:
    r = await client.get(f"{BASE}/webhooks/{webhook_id}/deliveries", headers=desk.admin_h)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def webhook_rule(client: httpx.AsyncClient, desk: Desk, webhook_id: int) -> dict[str, Any]:
    return await make_rule(
        client,
        desk.admin_h,
        name="Tell the CRM",
        events=["ticket_created"],
        conditions={},
        actions=[{"type": "call_webhook", "webhook_id": webhook_id}],
    )


async def test_a_rule_posts_a_signed_event_to_an_allowed_receiver(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk, receiver: Receiver
) -> None:
    await allow_localhost(client, desk)
    hook = await make_webhook(client, desk, f"{receiver.base}/opora")
    rule = await webhook_rule(client, desk, hook["id"])
    ticket = await make_ticket(client, desk.olga_h, desk.support.id)
    assert receiver.received == []  # nothing is posted inside the request
    await drain(runtime)

    [request] = receiver.received
    assert request.method == "POST" and request.path == "/opora"
    assert request.headers["x-opora-event"] == "ticket_created"
    assert webhooks.verify(
        hook["secret"],
        request.headers["x-opora-timestamp"],
        request.body,
        request.headers["x-opora-signature"],
        now=time.time(),
    )
    assert not webhooks.verify(
        "another-secret-entirely",
        request.headers["x-opora-timestamp"],
        request.body,
        request.headers["x-opora-signature"],
        now=time.time(),
    )
    # A captured request replayed an hour later is refused by the timestamp check.
    assert not webhooks.verify(
        hook["secret"],
        request.headers["x-opora-timestamp"],
        request.body,
        request.headers["x-opora-signature"],
        now=time.time() + 3600,
    )
    body = json.loads(request.body)
    assert body["event"]["kind"] == "ticket_created"
    assert body["rule"] == {"id": rule["id"], "name": "Tell the CRM"}
    assert body["ticket"]["number"] == ticket["id"] and body["ticket"]["status"] == "new"
    assert request.headers["x-opora-delivery"] == str(body["delivery_id"])

    [delivery] = await deliveries(client, desk, hook["id"])
    assert (delivery["state"], delivery["attempts"], delivery["ticket_id"]) == ("delivered", 1, ticket["id"])
    assert delivery["log"][0]["status_code"] == 200 and delivery["log"][0]["error"] is None


async def test_a_private_address_is_refused_by_default(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk, receiver: Receiver
) -> None:
    hook = await make_webhook(client, desk, f"{receiver.base}/opora")
    await webhook_rule(client, desk, hook["id"])
    await make_ticket(client, desk.olga_h, desk.support.id)
    await drain(runtime)
    assert receiver.received == []
    [delivery] = await deliveries(client, desk, hook["id"])
    assert delivery["state"] == "failed" and delivery["attempts"] == 1  # refusals are not retried
    assert delivery["log"][0]["error"].startswith("refused:")
    assert "127.0.0.1" in delivery["log"][0]["error"]


async def test_failures_are_retried_with_backoff_and_every_attempt_is_logged(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk, receiver: Receiver
) -> None:
    await allow_localhost(client, desk)
    receiver.answer("/flaky", Answer(503, b"busy"), Answer(200, b"ok"))
    hook = await make_webhook(client, desk, f"{receiver.base}/flaky")
    await webhook_rule(client, desk, hook["id"])
    await make_ticket(client, desk.olga_h, desk.support.id)
    await drain(runtime)

    [delivery] = await deliveries(client, desk, hook["id"])
    assert (delivery["state"], delivery["attempts"]) == ("pending", 1)
    assert delivery["log"][0]["status_code"] == 503 and delivery["log"][0]["response_excerpt"] == "busy"
    async with runtime.db.uow() as uow:
        job = (await uow.session.scalars(select(Job).where(Job.task == webhooks.DELIVER_TASK))).one()
    assert job.state == "queued" and job.attempts == 1 and job.run_at > job.created_at
    assert await drain(runtime) == 0  # the backoff holds it back

    await make_due(runtime.db, job.id)
    await drain(runtime)
    [delivery] = await deliveries(client, desk, hook["id"])
    assert (delivery["state"], delivery["attempts"]) == ("delivered", 2)
    assert [a["status_code"] for a in delivery["log"]] == [503, 200]
    assert len(receiver.received) == 2


async def test_a_client_error_is_final(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk, receiver: Receiver
) -> None:
    await allow_localhost(client, desk)
    receiver.answer("/gone", Answer(410, b"gone"))
    hook = await make_webhook(client, desk, f"{receiver.base}/gone")
    r = await client.post(f"{BASE}/webhooks/{hook['id']}/ping", headers=desk.admin_h)
    assert r.status_code == 202, r.text
    await drain(runtime)
    [delivery] = await deliveries(client, desk, hook["id"])
    assert (delivery["event_kind"], delivery["state"], delivery["attempts"]) == ("ping", "failed", 1)
    assert delivery["log"][0]["error"] == "HTTP 410"


async def test_webhook_admin(client: httpx.AsyncClient, runtime: Runtime, desk: Desk) -> None:
    hook = await make_webhook(client, desk, "https://crm.shop.example/hooks/opora", secret="s" * 20 + "tail")
    assert hook["secret"].endswith("tail") and hook["secret_hint"] == "…tail"
    shown = (await client.get(f"{BASE}/webhooks/{hook['id']}", headers=desk.admin_h)).json()
    assert "secret" not in shown and shown["secret_hint"] == "…tail"
    rotated = (
        await client.patch(
            f"{BASE}/webhooks/{hook['id']}", json={"rotate_secret": True}, headers=desk.admin_h
        )
    ).json()
    assert rotated["secret"] != hook["secret"]
    renamed = (
        await client.patch(f"{BASE}/webhooks/{hook['id']}", json={"name": "CRM 2"}, headers=desk.admin_h)
    ).json()
    assert renamed["name"] == "CRM 2" and "secret" not in renamed

    rule = await webhook_rule(client, desk, hook["id"])
    before = await snapshot(runtime)
    assert (await client.delete(f"{BASE}/webhooks/{hook['id']}", headers=desk.admin_h)).status_code == 409
    bad_url = await client.post(
        f"{BASE}/webhooks", json={"name": "X", "url": "ftp://files.example/x"}, headers=desk.admin_h
    )
    assert bad_url.status_code == 422 and bad_url.json()["error"]["field"] == "url"
    bad_net = await client.post(f"{BASE}/outbound-allow", json={"network": "intranet"}, headers=desk.admin_h)
    assert bad_net.status_code == 422 and bad_net.json()["error"]["field"] == "network"
    assert (await client.get(f"{BASE}/webhooks", headers=desk.supervisor_h)).status_code == 403
    assert await snapshot(runtime) == before

    await client.delete(f"/api/v1/automation/rules/{rule['id']}", headers=desk.admin_h)
    assert (await client.delete(f"{BASE}/webhooks/{hook['id']}", headers=desk.admin_h)).status_code == 204
