"""Card numbers are masked in stored text, whichever way the text arrives, and so in what is shown."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from opora.channels.models import Channel
from opora.inbox import service as inbox
from opora.inbox.models import InboundPayload, PayloadState
from opora.runtime import Runtime
from opora.tickets.models import Message
from tests.automation.helpers import make_ticket
from tests.inbox.fake_channel import TYPE, fake_channel_type
from tests.support.factories import Desk

CARD, MASKED = "4111 1111 1111 1111", "**** **** **** 1111"


@pytest.fixture(autouse=True)
def _fake_type() -> Iterator[None]:
    with fake_channel_type():
        yield


async def test_cards_are_masked_in_api_and_inbound_messages(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    ticket = await make_ticket(client, desk.olga_h, desk.support.id, f"Списали дважды с карты {CARD}")
    r = await client.post(
        f"/api/v1/tickets/{ticket['id']}/messages",
        json={"text": f"Проверим платёж по карте {CARD.replace(' ', '')}"},
        headers=desk.olga_h,
    )
    assert r.status_code in (200, 201), r.text

    async with runtime.db.uow() as uow:
        channel = Channel(type=TYPE, name="Fake chat", settings={}, secrets_encrypted="")
        uow.session.add(channel)
    async with runtime.db.uow() as uow:
        received = await inbox.receive(
            uow,
            channel_id=channel.id,
            external_id="card-1",
            payload=json.dumps({"id": "m1", "from": "5", "text": f"моя карта {CARD}"}).encode(),
            content_type="application/json",
        )
    assert received.payload_id is not None
    async with runtime.db.uow() as uow:
        await inbox.process(uow, runtime, received.payload_id)

    async with runtime.db.uow() as uow:
        texts = list((await uow.session.scalars(select(Message.text).order_by(Message.id))).all())
    assert len(texts) == 3
    assert all(CARD not in t and CARD.replace(" ", "") not in t for t in texts), texts
    assert [MASKED in t or "************1111" in t for t in texts] == [True, True, True]
    shown = (await client.get(f"/api/v1/tickets/{ticket['id']}/messages", headers=desk.olga_h)).json()[
        "items"
    ]
    assert all("1111 1111 1111 1111" not in m["text"] for m in shown)


async def test_the_raw_copy_of_a_processed_payload_loses_the_card(runtime: Runtime, desk: Desk) -> None:
    async with runtime.db.uow() as uow:
        channel = Channel(type=TYPE, name="Fake chat", settings={}, secrets_encrypted="")
        uow.session.add(channel)
    bodies = {
        "with-card": {"id": "m1", "from": "5", "text": f"оплатил картой {CARD}, где заказ?"},
        "plain": {"id": "m2", "from": "6", "text": "заказ 12345678 не пришёл"},
    }
    ids = {}
    for external_id, body in bodies.items():
        async with runtime.db.uow() as uow:
            received = await inbox.receive(
                uow,
                channel_id=channel.id,
                external_id=external_id,
                payload=json.dumps(body, ensure_ascii=False).encode(),
                content_type="application/json",
            )
        assert received.payload_id is not None
        ids[external_id] = received.payload_id
    async with runtime.db.uow() as uow:
        await inbox.process(uow, runtime, ids["with-card"])

    async with runtime.db.uow() as uow:
        rows = {
            r.external_id: r
            for r in (
                await uow.session.scalars(
                    select(InboundPayload).where(InboundPayload.channel_id == channel.id)
                )
            )
        }
        texts = list((await uow.session.scalars(select(Message.text).order_by(Message.id))).all())
    assert rows["with-card"].state == PayloadState.PROCESSED
    assert CARD not in rows["with-card"].payload and "4111" not in rows["with-card"].payload
    assert rows["with-card"].payload == inbox.CARD_REDACTED
    # A payload without a card keeps its raw form, byte for byte.
    assert rows["plain"].state == PayloadState.PROCESSED
    assert json.loads(rows["plain"].payload) == bodies["plain"]
    assert any(MASKED in t for t in texts) and any("12345678" in t for t in texts)
