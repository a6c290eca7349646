import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from opora.kit.time import utcnow
from opora.privacy import service
from opora.privacy.masking import luhn_valid, mask_cards
from opora.runtime import Runtime
from opora.tickets.models import Attachment, Message, Ticket
from tests.shop.test_shop_api import make_shop, order
from tests.support.factories import Desk
from tests.support.snapshot import snapshot

CUSTOMERS = "/api/v1/customers"
PRIVACY = "/api/v1/privacy"
EMAIL, PHONE, NAME = "zoya.secret@mail.ru", "+79990001122", "Зоя Секретова"
FILE = b"passport scan of Zoya"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("карта 4111 1111 1111 1111, спасибо", "карта **** **** **** 1111, спасибо"),
        ("4111-1111-1111-1111", "****-****-****-1111"),
        ("amex 371449635398431", "amex ***********8431"),
        ("19 digits 6011000990139424000", "19 digits 6011000990139424000"),  # not Luhn-valid
        ("не карта 4111111111111112", "не карта 4111111111111112"),
        ("телефон +7 912 345 67 89, заказ 1234567890123", "телефон +7 912 345 67 89, заказ 1234567890123"),
        ("", ""),
    ],
)
def test_mask_cards(text: str, masked: str) -> None:
    assert mask_cards(text) == masked


def test_luhn() -> None:
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")


async def customer_with_history(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> tuple[int, int]:
    r = await client.post(
        "/api/v1/tickets",
        json={
            "subject": f"Вопрос от {NAME}",
            "customer": {"identity": {"kind": "email", "value": EMAIL}, "name": NAME},
            "message": {"text": f"Меня зовут {NAME}, телефон {PHONE}", "author": "customer"},
            "team_id": desk.support.id,
        },
        headers=desk.olga_h,
    )
    assert r.status_code == 201, r.text
    ticket = r.json()
    customer_id = ticket["customer_id"]
    await client.post(
        f"{CUSTOMERS}/{customer_id}/identities", json={"kind": "phone", "value": PHONE}, headers=desk.olga_h
    )
    await client.post(
        f"{CUSTOMERS}/{customer_id}/notes", json={"text": f"{NAME} просила перезвонить"}, headers=desk.olga_h
    )
    await client.post(
        f"/api/v1/tickets/{ticket['id']}/messages",
        json={"text": f"Здравствуйте, {NAME}!"},
        headers=desk.olga_h,
    )
    digest = runtime.storage.put(FILE)
    async with runtime.db.uow() as uow:
        message_id = await uow.session.scalar(
            select(func.min(Message.id)).where(Message.ticket_id == ticket["id"])
        )
        uow.session.add(
            Attachment(
                message_id=message_id,
                sha256=digest,
                filename="pasport.jpg",
                content_type="image/jpeg",
                size=len(FILE),
            )
        )
    shop = await make_shop(client, desk)
    await client.post(
        "/api/v1/shop/orders",
        json=order(customer={"email": EMAIL, "name": NAME}, tracking_number="RA-ZOYA"),
        headers={"X-Opora-Shop-Key": shop["api_key"]},
    )
    return customer_id, ticket["id"]


async def test_export_has_everything(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    customer_id, ticket_id = await customer_with_history(client, desk, runtime)
    r = await client.patch(f"{CUSTOMERS}/{customer_id}", json={"segment": "vip"}, headers=desk.olga_h)
    assert r.status_code == 200, r.text
    assert (
        await client.get(f"{PRIVACY}/customers/{customer_id}/export", headers=desk.olga_h)
    ).status_code == 403
    r = await client.get(f"{PRIVACY}/customers/{customer_id}/export", headers=desk.admin_h)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    doc: dict[str, Any] = json.loads(archive.read("customer.json"))
    assert doc["customer"]["name"] == NAME
    assert {(i["kind"], i["value"]) for i in doc["customer"]["identities"]} == {
        ("email", EMAIL),
        ("phone", PHONE),
    }
    [ticket] = doc["tickets"]
    assert ticket["id"] == ticket_id and len(ticket["messages"]) == 2
    [path] = ticket["messages"][0]["attachments"]
    assert archive.read(path) == FILE
    assert [o["number"] for o in doc["orders"]] == ["1001"] and doc["orders"][0]["total"] == "1990.50"
    assert doc["notes"][0]["text"].startswith(NAME)
    assert [(c["old"], c["new"], c["source"]) for c in doc["segment_history"]] == [(None, "vip", "manual")]
    log = (
        await client.get(f"{PRIVACY}/access-log", params={"customer_id": customer_id}, headers=desk.admin_h)
    ).json()
    assert log[0]["what"] == "export" and log[0]["agent_id"] == desk.admin.id


def _dump_contains(dump: dict[str, list[tuple[Any, ...]]], needle: str) -> list[str]:
    hits = []
    for table, rows in dump.items():
        for row in rows:
            if (
                needle.casefold() in repr(row).casefold()
                or needle.casefold() in json.dumps(row, default=str, ensure_ascii=False).casefold()
            ):
                hits.append(table)
    return hits


async def created_report(client: httpx.AsyncClient, desk: Desk) -> list[tuple[str | None, int]]:
    """The "tickets created" report of the last day, per channel: what a supervisor sees."""
    now = utcnow()
    r = await client.get(
        "/api/v1/analytics/reports/created",
        params={
            "start": (now - timedelta(days=1)).isoformat(),
            "end": (now + timedelta(minutes=1)).isoformat(),
            "dimension": "channel",
        },
        headers=desk.supervisor_h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    return [(None, body["total"]["count"]), *((row["key"], row["count"]) for row in body["rows"])]


async def test_erasure_leaves_no_personal_data(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    customer_id, _ticket = await customer_with_history(client, desk, runtime)
    report = await created_report(client, desk)
    assert report[0] == (None, 1)
    before = await snapshot(runtime)
    refused = [
        client.post(
            f"{PRIVACY}/customers/{customer_id}/erase",
            json={"confirm": customer_id},
            headers=desk.supervisor_h,
        ),
        client.post(
            f"{PRIVACY}/customers/{customer_id}/erase",
            json={"confirm": customer_id + 1},
            headers=desk.admin_h,
        ),
        client.post(f"{PRIVACY}/customers/{customer_id}/erase", json={}, headers=desk.admin_h),
    ]
    for call in refused:
        assert (await call).status_code in (403, 422)
    assert await snapshot(runtime) == before

    r = await client.post(
        f"{PRIVACY}/customers/{customer_id}/erase", json={"confirm": customer_id}, headers=desk.admin_h
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"customer_id": customer_id, "tickets": 1, "messages": 2, "files_deleted": 1}

    dump = await snapshot(runtime)
    for value in (EMAIL, PHONE, NAME, "Секретова", "zoya.secret", "9990001122", "RA-ZOYA", "pasport.jpg"):
        assert _dump_contains(dump, value) == [], value
    data_dir = Path(runtime.settings.data_dir)
    for path in data_dir.rglob("*"):
        if path.is_file() and path.suffix not in (".db", ".db-wal", ".db-shm"):
            content = path.read_bytes()
            assert FILE not in content and EMAIL.encode() not in content, path
    # The figures stay: the ticket, its messages and the order are still counted.
    async with runtime.db.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Ticket)) == 1
        assert await uow.session.scalar(select(func.count()).select_from(Message)) == 2
    assert await created_report(client, desk) == report  # reports still count the ticket
    customer = (await client.get(f"{CUSTOMERS}/{customer_id}", headers=desk.admin_h)).json()
    assert (
        customer["erased_at"] is not None and customer["orders_count"] == 1 and customer["identities"] == []
    )


async def test_retention_redacts_old_closed_tickets(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    customer_id, old_ticket = await customer_with_history(client, desk, runtime)
    r = await client.post(
        "/api/v1/tickets",
        json={
            "customer": {"id": customer_id},
            "message": {"text": "свежий вопрос", "author": "customer"},
            "team_id": desk.support.id,
        },
        headers=desk.olga_h,
    )
    fresh = r.json()["id"]
    now = utcnow()
    async with runtime.db.uow() as uow:
        for ticket_id, closed in ((old_ticket, now - timedelta(days=400)), (fresh, now - timedelta(days=10))):
            ticket = await uow.session.get(Ticket, ticket_id)
            assert ticket is not None
            ticket.status, ticket.closed_at = "closed", closed
    async with runtime.db.uow() as uow:
        assert await service.apply_retention(uow, runtime.storage, now=now) == 0  # off by default
    put = await client.put(f"{PRIVACY}/retention", json={"closed_ticket_months": 12}, headers=desk.admin_h)
    assert put.json() == {"closed_ticket_months": 12}
    async with runtime.db.uow() as uow:
        assert await service.apply_retention(uow, runtime.storage, now=now) == 1
    async with runtime.db.uow() as uow:
        assert await service.apply_retention(uow, runtime.storage, now=now) == 0  # done once
        texts = {
            m.ticket_id: m.text
            for m in (await uow.session.scalars(select(Message).order_by(Message.id))).all()
        }
        files = (await uow.session.scalars(select(Attachment))).all()
    assert texts[old_ticket] == "" and texts[fresh] == "свежий вопрос"
    assert files == []
    # the customer keeps their profile: retention is about old conversations, not people
    assert (await client.get(f"{CUSTOMERS}/{customer_id}", headers=desk.admin_h)).json()["name"] == NAME


def test_months_before_clamps_the_day() -> None:
    from datetime import UTC, datetime

    assert service.months_before(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert service.months_before(datetime(2026, 1, 15, tzinfo=UTC), 13) == datetime(2024, 12, 15, tzinfo=UTC)
