"""Call events through the real inbox webhook: generic JSON and Zadarma's notifications."""

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
from sqlalchemy import func, select

from opora.channels.telephony.calls import Call, CallEvent, summary
from opora.customers.models import CustomerIdentity
from opora.inbox.models import InboundPayload
from opora.jobs.worker import Worker
from opora.runtime import Runtime
from opora.tickets.models import Message, Ticket, TicketTag
from tests.support.factories import Desk
from tests.support.snapshot import snapshot

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "generic-pbx-secret"
ZADARMA_SECRET = "zadarma-api-secret"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


async def make_channel(client: httpx.AsyncClient, desk: Desk, **settings: Any) -> int:
    provider = settings.get("provider", "generic")
    secrets = {"api_secret": ZADARMA_SECRET} if provider == "zadarma" else {"webhook_secret": SECRET}
    answer = await client.post(
        "/api/v1/channels",
        json={"type": "telephony", "name": "Phone", "settings": settings, "secrets": secrets},
        headers=desk.admin_h,
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


async def post_generic(
    client: httpx.AsyncClient, channel_id: int, body: bytes, *, secret: str = SECRET
) -> httpx.Response:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return await client.post(
        f"/api/v1/inbound/{channel_id}",
        content=body,
        headers={"Content-Type": "application/json", "X-Opora-Signature": f"sha256={signature}"},
    )


def zadarma_signature(body: bytes, secret: str = ZADARMA_SECRET) -> str:
    fields = dict(parse_qsl(body.decode()))
    names = (
        ("pbx_call_id", "call_id_with_rec")
        if fields["event"] == "NOTIFY_RECORD"
        else ("caller_id", "called_did", "call_start")
    )
    digest = hmac.new(secret.encode(), "".join(fields[n] for n in names).encode(), hashlib.sha1).hexdigest()
    return base64.b64encode(digest.encode()).decode()


async def post_zadarma(
    client: httpx.AsyncClient, channel_id: int, body: bytes, signature: str
) -> httpx.Response:
    return await client.post(
        f"/api/v1/inbound/{channel_id}",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Signature": signature},
    )


async def drain(runtime: Runtime) -> None:
    await Worker(runtime, concurrency=1, poll_seconds=0.05).run_until_idle()


async def messages(runtime: Runtime) -> list[Message]:
    async with runtime.db.uow() as uow:
        return list((await uow.session.scalars(select(Message).order_by(Message.id))).all())


async def tickets(runtime: Runtime) -> list[Ticket]:
    async with runtime.db.uow() as uow:
        return list((await uow.session.scalars(select(Ticket).order_by(Ticket.id))).all())


async def test_answered_call_is_a_call_message_on_the_customer_matched_by_phone(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    known = await client.post(
        "/api/v1/customers",
        json={"name": "Ирина", "identities": [{"kind": "phone", "value": "+7 916 123 45 67"}]},
        headers=desk.admin_h,
    )
    assert known.status_code == 201, known.text
    channel_id = await make_channel(client, desk)
    answer = await post_generic(client, channel_id, fixture("generic_answered.json"))
    assert answer.status_code == 202
    assert answer.json() == {"accepted": True, "duplicate": False}
    await drain(runtime)

    [message] = await messages(runtime)
    assert message.author_customer_id == known.json()["id"]
    assert message.metadata_["kind"] == "call"
    assert message.metadata_["call"]["event"] == "answered"
    assert message.metadata_["call"]["duration"] == 125
    assert "2 мин 5 с" in message.text
    assert "https://pbx.example/recordings/c-1001.mp3" in message.text
    assert message.html is not None and 'href="https://pbx.example/recordings/c-1001.mp3"' in message.html
    [ticket] = await tickets(runtime)
    assert ticket.channel_type == "telephony"
    assert ticket.priority == "normal"
    assert ticket.subject == "Звонок от 8 (916) 123-45-67"


async def test_bad_signature_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    channel_id = await make_channel(client, desk)
    before = await snapshot(runtime)
    wrong = await post_generic(client, channel_id, fixture("generic_missed.json"), secret="not-the-secret")
    unsigned = await client.post(f"/api/v1/inbound/{channel_id}", content=fixture("generic_missed.json"))
    # A header outside ASCII is a mismatch like any other, not a server error.
    garbled = await client.post(
        f"/api/v1/inbound/{channel_id}",
        content=fixture("generic_missed.json"),
        headers={"X-Opora-Signature": "sha256=caf\u00e9".encode("latin-1")},
    )
    assert garbled.status_code == 401
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_signature"
    assert unsigned.status_code == 401
    assert await snapshot(runtime) == before


async def test_same_call_and_event_twice_is_one_message(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    channel_id = await make_channel(client, desk)
    body = fixture("generic_answered.json")
    # The PBX retries with a slightly different body (a re-serialised JSON): same call, same event.
    again = json.dumps({**json.loads(body), "retry": 1}).encode()
    assert (await post_generic(client, channel_id, body)).json()["duplicate"] is False
    assert (await post_generic(client, channel_id, again)).json()["duplicate"] is True
    await drain(runtime)
    assert len(await messages(runtime)) == 1
    async with runtime.db.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(InboundPayload)) == 1


async def test_missed_call_opens_a_high_priority_call_back_ticket_and_a_second_joins_it(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    channel_id = await make_channel(client, desk)
    assert (await post_generic(client, channel_id, fixture("generic_missed.json"))).status_code == 202
    await drain(runtime)
    [ticket] = await tickets(runtime)
    assert ticket.priority == "high"
    assert ticket.subject == "Перезвонить: +79161234567"
    async with runtime.db.uow() as uow:
        tags = (
            await uow.session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == ticket.id))
        ).all()
        phones = (await uow.session.scalars(select(CustomerIdentity.value))).all()
    assert list(tags) == ["callback"]
    assert list(phones) == ["+79161234567"]
    events = (await client.get(f"/api/v1/tickets/{ticket.id}/events", headers=desk.admin_h)).json()["items"]
    kinds = [e["kind"] for e in events]
    assert "priority_changed" in kinds and "tags_changed" in kinds

    # The customer tries again ten minutes later: the same call-back ticket, not a second one.
    second = {**json.loads(fixture("generic_missed.json")), "call_id": "c-1099"}
    assert (await post_generic(client, channel_id, json.dumps(second).encode())).status_code == 202
    await drain(runtime)
    assert [t.id for t in await tickets(runtime)] == [ticket.id]
    assert len(await messages(runtime)) == 2


async def test_voicemail_keeps_the_recording_as_a_link_and_outbound_calls_are_ignored(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    channel_id = await make_channel(client, desk, language="en")
    assert (await post_generic(client, channel_id, fixture("generic_voicemail.json"))).status_code == 202
    assert (await post_generic(client, channel_id, fixture("generic_outbound.json"))).status_code == 202
    await drain(runtime)
    [message] = await messages(runtime)
    assert message.text.startswith("Voicemail from +7 916 765-43-21, duration 34 s.")
    assert "Call recording: https://pbx.example/voicemail/c-1003.mp3" in message.text
    async with runtime.db.uow() as uow:
        states = sorted((await uow.session.scalars(select(InboundPayload.state))).all())
    assert states == ["ignored", "processed"]


async def test_zadarma_notify_end_with_its_signature(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    channel_id = await make_channel(
        client,
        desk,
        provider="zadarma",
        recording_url_template="https://crm.shop.test/calls/{call_id_with_rec}",
    )
    echo = await client.get(f"/api/v1/inbound/{channel_id}", params={"zd_echo": "abc123"})
    assert echo.status_code == 200 and echo.text == "abc123"
    answered = fixture("zadarma_notify_end_answered.txt")
    missed = fixture("zadarma_notify_end_missed.txt")
    start = fixture("zadarma_notify_start.txt")
    for body in (answered, missed, start):
        answer = await post_zadarma(client, channel_id, body, zadarma_signature(body))
        assert answer.status_code == 202, answer.text
    await drain(runtime)
    found = await messages(runtime)
    assert [m.metadata_["call"]["event"] for m in found] == ["answered", "missed"]
    assert found[0].metadata_["call"]["recording_url"] == "https://crm.shop.test/calls/1700000000.123"
    assert found[0].metadata_["call"]["started_at"] == "2026-11-23T09:00:00+00:00"
    [ticket] = await tickets(runtime)
    assert ticket.priority == "high"


async def test_zadarma_bad_signature_stores_nothing(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    channel_id = await make_channel(client, desk, provider="zadarma")
    body = fixture("zadarma_notify_end_answered.txt")
    before = await snapshot(runtime)
    forged = await post_zadarma(client, channel_id, body, zadarma_signature(body, "wrong-secret"))
    assert forged.status_code == 401
    assert await snapshot(runtime) == before


# Vectors computed outside Python, the way Zadarma's PHP examples do it
# (``base64_encode(hash_hmac('sha1', $caller_id . $called_did . $call_start, $secret))``):
#   printf '%s' '79161234567749512000002026-11-23 12:00:00' \
#     | openssl dgst -sha1 -hmac zadarma-api-secret | awk '{print $2}' | tr -d '\n' | base64
ZADARMA_END_SIGNATURE = "OTViMzZmMDAzMDk2NTdmN2ZjMTdmOWZmN2Q1ZDYwOTVlYjVkMzY5MA=="
# The same HMAC with ``-binary``: base64 of the raw digest, a common mistake Zadarma does not make.
ZADARMA_END_RAW_DIGEST = "lbNvADCWV/f8F/n/fV1gletdNpA="
# NOTIFY_RECORD signs pbx_call_id + call_id_with_rec: 'in_8f2a1c' '1700000000.123'.
ZADARMA_RECORD_SIGNATURE = "YTFjYjQ2NWFiMTRlZWIxMmM0ZWE3ODUyZDc4Nzc0NjdjOTMxNGE3MQ=="


async def test_zadarma_signature_matches_an_independent_vector(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    channel_id = await make_channel(client, desk, provider="zadarma")
    body = fixture("zadarma_notify_end_answered.txt")
    record = b"event=NOTIFY_RECORD&pbx_call_id=in_8f2a1c&call_id_with_rec=1700000000.123"
    before = await snapshot(runtime)
    refused = [
        await post_zadarma(client, channel_id, body, ZADARMA_END_RAW_DIGEST),
        await post_zadarma(client, channel_id, body, ""),
        # A signed field changed after signing: another caller with the same signature.
        await post_zadarma(
            client,
            channel_id,
            body.replace(b"caller_id=79161234567", b"caller_id=79990000000"),
            ZADARMA_END_SIGNATURE,
        ),
        # An END signature does not sign a RECORD notification.
        await post_zadarma(client, channel_id, record, ZADARMA_END_SIGNATURE),
    ]
    assert [r.status_code for r in refused] == [401, 401, 401, 401]
    assert {r.json()["error"]["code"] for r in refused} == {"invalid_signature"}
    assert await snapshot(runtime) == before
    accepted = await post_zadarma(client, channel_id, body, ZADARMA_END_SIGNATURE)
    assert accepted.status_code == 202, accepted.text
    assert (await post_zadarma(client, channel_id, record, ZADARMA_RECORD_SIGNATURE)).status_code == 202
    await drain(runtime)
    [message] = await messages(runtime)
    assert message.metadata_["call"]["caller"] == "79161234567"
    async with runtime.db.uow() as uow:
        states = sorted((await uow.session.scalars(select(InboundPayload.state))).all())
    assert states == ["ignored", "processed"]


def test_summary_reads_in_both_languages() -> None:
    call = Call(call_id="x", event=CallEvent.ANSWERED, caller="+79161234567", duration=42, agent="7")
    assert summary(call, "en")[0] == "Incoming call from +79161234567: answered (agent 7), duration 42 s."
    assert (
        summary(call, "ru")[0] == "Входящий звонок от +79161234567: принят (сотрудник 7), длительность 42 с."
    )
    missed = Call(call_id="x", event=CallEvent.MISSED, caller="+79161234567")
    assert "Перезвоните" in summary(missed, "ru")[0]
