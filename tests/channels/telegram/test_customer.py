"""One customer across channels: a Telegram chat and an email, linked by identity or by a merge,
show as one customer with both conversations."""

from __future__ import annotations

from typing import Any

import httpx

from opora.runtime import Runtime
from tests.channels.email.e2e_support import CUSTOMER, email_channel, mail
from tests.channels.telegram.support import drain, post_update, raw, telegram_channel, tickets
from tests.support.factories import Desk

MAIL_TOKEN = "mail-push-token"


async def write_by_email(runtime: Runtime, client: httpx.AsyncClient, desk: Desk) -> None:
    channel = await email_channel(runtime, team_id=desk.support.id, secrets={"webhook_token": MAIL_TOKEN})
    body = mail(subject="Возврат заказа 1234", body="Хочу вернуть заказ 1234, он пришёл мятым.")
    r = await client.post(
        f"/api/v1/inbound/{channel.id}",
        content=body,
        headers={"content-type": "message/rfc822", "x-opora-token": MAIL_TOKEN},
    )
    assert r.status_code == 202, r.text
    await drain(runtime)


async def conversations(client: httpx.AsyncClient, desk: Desk, customer_id: int) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/tickets", params={"customer_id": customer_id}, headers=desk.olga_h)
    assert r.status_code == 200
    found = []
    for ticket in sorted(r.json()["items"], key=lambda t: t["id"]):
        msgs = await client.get(f"/api/v1/tickets/{ticket['id']}/messages", headers=desk.olga_h)
        found.append({"channel": ticket["channel_type"], "texts": [m["text"] for m in msgs.json()["items"]]})
    return found


async def test_telegram_then_email_with_the_identity_linked_is_one_customer(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    channel = await telegram_channel(runtime, team_id=desk.support.id)
    await post_update(client, channel, raw("text_message"))
    await drain(runtime)
    [first] = await tickets(runtime)
    # The customer tells the agent their email in the chat; the agent links it.
    r = await client.post(
        f"/api/v1/customers/{first.customer_id}/identities",
        json={"kind": "email", "value": CUSTOMER},
        headers=desk.olga_h,
    )
    assert r.status_code == 201, r.text
    await write_by_email(runtime, client, desk)

    second = (await tickets(runtime))[-1]
    assert second.id != first.id and second.customer_id == first.customer_id
    timeline = await conversations(client, desk, first.customer_id)
    assert [c["channel"] for c in timeline] == ["telegram", "email"]
    assert "Где мой заказ 1234?" in timeline[0]["texts"][0]
    assert "Хочу вернуть заказ 1234" in timeline[1]["texts"][0]
    r = await client.get(f"/api/v1/customers/{first.customer_id}", headers=desk.olga_h)
    identities = {(i["kind"], i["value"]) for i in r.json()["identities"]}
    assert identities == {("telegram", "424242001"), ("email", CUSTOMER)}
    # The customer's 360 timeline holds both conversations.
    r = await client.get(f"/api/v1/customers/{first.customer_id}/timeline", headers=desk.olga_h)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(i["kind"], i["ticket_id"], i["channel_type"]) for i in items] == [
        ("ticket", second.id, "email"),
        ("ticket", first.id, "telegram"),
    ]


async def test_telegram_and_email_customers_merged_later_show_both_conversations(
    runtime: Runtime, client: httpx.AsyncClient, desk: Desk
) -> None:
    channel = await telegram_channel(runtime, team_id=desk.support.id)
    await post_update(client, channel, raw("text_message"))
    await drain(runtime)
    await write_by_email(runtime, client, desk)
    by_telegram, by_email = await tickets(runtime)
    assert by_telegram.customer_id != by_email.customer_id
    r = await client.post(
        f"/api/v1/customers/{by_telegram.customer_id}/merge",
        json={"merged_customer_id": by_email.customer_id},
        headers=desk.olga_h,
    )
    assert r.status_code == 200, r.text
    timeline = await conversations(client, desk, by_telegram.customer_id)
    assert [c["channel"] for c in timeline] == ["telegram", "email"]
    # The next Telegram message still finds the survivor, and continues its chat.
    again = raw("text_message").replace(b'"update_id": 713890001', b'"update_id": 713890099')
    again = again.replace(b'"message_id": 101', b'"message_id": 160')
    await post_update(client, channel, again)
    await drain(runtime)
    timeline = await conversations(client, desk, by_telegram.customer_id)
    assert len(timeline) == 2 and len(timeline[0]["texts"]) == 2
