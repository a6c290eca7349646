"""VK Callback API end to end: the documented events through the real endpoint, and a fake VK API
on 127.0.0.1 receiving messages.send."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from opora.channels.vk.api import random_id
from opora.customers.models import CustomerIdentity
from opora.inbox.models import InboundPayload
from opora.runtime import Runtime
from opora.tickets.models import Message, Ticket
from tests.channels.whatsapp.support import (
    Call,
    FakeVendor,
    count,
    deliver_jobs,
    drain,
    fixture,
    inbound,
    json_answer,
    make_channel,
    make_jobs_due,
    outbound,
    reply,
    rows,
)
from tests.support.factories import Desk
from tests.support.snapshot import snapshot

HERE = Path(__file__).parent
GROUP = 218796502
SECRET = "vk-callback-secret-7"
TOKEN = "vk1.a.community-token"
CODE = "a1b2c3d4"


def vk_api(call: Call) -> tuple[int, bytes, str]:
    form = {k: v[0] for k, v in parse_qs(call.body.decode()).items()}
    if form.get("access_token") != TOKEN:
        return json_answer({"error": {"error_code": 5, "error_msg": "User authorization failed"}})
    if call.path == "/method/messages.send":
        return json_answer({"response": 1425})
    return json_answer({"error": {"error_code": 3, "error_msg": "Unknown method passed"}})


@pytest.fixture
def vendor() -> Iterator[FakeVendor]:
    with FakeVendor(vk_api) as fake:
        yield fake


@pytest.fixture
async def channel_id(client: httpx.AsyncClient, desk: Desk, vendor: FakeVendor) -> int:
    return await make_channel(
        client,
        desk,
        "vk",
        {"group_id": GROUP, "confirmation_code": CODE, "api_base_url": f"{vendor.base_url}/method"},
        {"access_token": TOKEN, "secret": SECRET},
    )


async def post(client: httpx.AsyncClient, channel_id: int, body: bytes) -> httpx.Response:
    return await client.post(
        f"/api/v1/inbound/{channel_id}", content=body, headers={"content-type": "application/json"}
    )


async def test_confirmation_answers_the_code_and_stores_nothing(
    client: httpx.AsyncClient, runtime: Runtime, channel_id: int
) -> None:
    before = await snapshot(runtime)
    r = await post(client, channel_id, fixture(HERE, "confirmation.json"))
    assert (r.status_code, r.text) == (200, CODE)
    assert await snapshot(runtime) == before


@pytest.mark.parametrize("secret", ["wrong", None])
async def test_wrong_or_missing_secret_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, runtime: Runtime, channel_id: int, secret: str | None
) -> None:
    before = await snapshot(runtime)
    for name in ("message_new_text.json", "confirmation.json"):
        event = json.loads(fixture(HERE, name))
        event.pop("secret")
        if secret:
            event["secret"] = secret
        r = await post(client, channel_id, json.dumps(event).encode())
        assert r.status_code == 401
    # An event for another community is not ours either.
    event = json.loads(fixture(HERE, "message_new_text.json"))
    event["group_id"] = 1
    assert (await post(client, channel_id, json.dumps(event).encode())).status_code == 401
    assert await snapshot(runtime) == before


async def test_message_new_becomes_a_ticket_once_and_replies_are_ignored(
    client: httpx.AsyncClient, runtime: Runtime, channel_id: int
) -> None:
    for _ in range(2):  # VK redelivers when our "ok" is late
        r = await post(client, channel_id, fixture(HERE, "message_new_text.json"))
        assert (r.status_code, r.text) == (200, "ok")
    assert (await post(client, channel_id, fixture(HERE, "message_reply.json"))).text == "ok"
    await drain(runtime)
    [message] = await inbound(runtime)
    assert message.text == "Добрый день! Заказ 1042 не пришёл"
    assert message.external_id == "1423"
    [identity] = await rows(runtime, CustomerIdentity)
    assert (identity.kind, identity.value) == ("vk", "512345678")
    [ticket] = await rows(runtime, Ticket)
    assert ticket.language == "ru"
    states = [p.state for p in await rows(runtime, InboundPayload)]
    assert states == ["processed", "ignored"]


async def test_photos_and_documents_arrive_as_links(
    client: httpx.AsyncClient, runtime: Runtime, channel_id: int
) -> None:
    await post(client, channel_id, fixture(HERE, "message_new_attachments.json"))
    await drain(runtime)
    [message] = await inbound(runtime)
    assert message.text.splitlines() == [
        "Вот фото и чек",
        "[photo] https://sun9-1.userapi.com/s/v1/photo-big.jpg",
        "[doc] чек.pdf https://vk.com/doc512345678_670001234?hash=abc&dl=xyz",
    ]
    assert [a["type"] for a in message.metadata_["vk_attachments"]] == ["photo", "doc"]


async def test_send_uses_a_random_id_derived_from_the_message_and_retries_with_it(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk, channel_id: int, vendor: FakeVendor
) -> None:
    await post(client, channel_id, fixture(HERE, "message_new_text.json"))
    await drain(runtime)
    [ticket] = await rows(runtime, Ticket)
    vendor.script(
        "/method/messages.send",
        json_answer({"error": {"error_code": 10, "error_msg": "Internal server error"}}),
    )
    message_id = await reply(client, desk, ticket.id)
    await drain(runtime)
    [job] = await deliver_jobs(runtime)
    assert (job.state, job.attempts) == ("queued", 1)
    vendor.scripted.clear()
    await make_jobs_due(runtime)
    await drain(runtime)
    first, second = [parse_qs(c.body.decode()) for c in vendor.to("/method/messages.send")]
    assert first["random_id"] == second["random_id"] == [str(random_id(f"opora-message-{message_id}:0"))]
    assert second["peer_id"] == ["512345678"] and second["message"] == ["Здравствуйте! Заказ в пути."]
    [message] = await outbound(runtime)
    assert (message.delivery_status, message.external_id) == ("sent", "1425")


async def test_permanent_vk_error_fails_the_reply_with_an_explanation(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk, channel_id: int, vendor: FakeVendor
) -> None:
    await post(client, channel_id, fixture(HERE, "message_new_text.json"))
    await drain(runtime)
    [ticket] = await rows(runtime, Ticket)
    vendor.script(
        "/method/messages.send",
        json_answer(
            {"error": {"error_code": 901, "error_msg": "Can't send messages for users without permission"}}
        ),
    )
    await reply(client, desk, ticket.id)
    await drain(runtime)
    [message] = await outbound(runtime)
    assert message.delivery_status == "failed"
    assert message.delivery_error is not None
    assert "not allowed messages" in message.delivery_error and "не разрешил" in message.delivery_error
    [job] = await deliver_jobs(runtime)
    assert job.state == "done"
    assert await count(runtime, Message) == 2
