"""The hosted form and the shop's POST endpoint: spam checks, limits, attachments, thank-you page."""

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from opora.channels.models import Channel
from opora.channels.webform import service, spam
from opora.customers.models import CustomerIdentity
from opora.jobs.worker import Worker
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.tickets.models import Attachment, Message, Ticket
from tests.support.factories import Desk
from tests.support.snapshot import snapshot

KEY = "romashka-contact-form"
SHOP = "https://shop.example"
PDF = b"%PDF-1.4 order invoice\n%%EOF\n"


@pytest.fixture
async def form(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> Channel:
    return await make_form(client, desk, runtime)


async def make_form(client: httpx.AsyncClient, desk: Desk, runtime: Runtime, **extra: Any) -> Channel:
    settings = {"public_key": KEY, "allowed_origins": [SHOP], "title_ru": "Напишите нам", **extra}
    answer = await client.post(
        "/api/v1/channels",
        json={"type": "webform", "name": "Site form", "settings": settings},
        headers=desk.admin_h,
    )
    assert answer.status_code == 201, answer.text
    async with runtime.db.uow() as uow:
        channel = await uow.session.get(Channel, answer.json()["id"])
        assert channel is not None
        return channel


def token(runtime: Runtime, channel: Channel, age: float = 10) -> str:
    return service.new_timestamp(runtime, channel, utcnow() - timedelta(seconds=age))


def fields(runtime: Runtime, channel: Channel, **overrides: str) -> dict[str, str]:
    data = {
        "name": "Ирина Петрова",
        "email": "irina@example.ru",
        "phone": "8 916 123-45-67",
        "subject": "Не пришёл заказ",
        "message": "Заказ 1042 так и не доставили.",
        spam.HONEYPOT_FIELD: "",
        spam.TIMESTAMP_FIELD: token(runtime, channel),
    }
    return {**data, **overrides}


async def drain(runtime: Runtime) -> None:
    await Worker(runtime, concurrency=1, poll_seconds=0.05).run_until_idle()


async def test_hosted_form_speaks_the_browsers_language(client: httpx.AsyncClient, form: Channel) -> None:
    ru = await client.get(f"/forms/{KEY}", headers={"Accept-Language": "ru-RU,ru;q=0.9"})
    en = await client.get(f"/forms/{KEY}?lang=en", headers={"Accept-Language": "ru"})
    assert ru.status_code == 200 and en.status_code == 200
    assert "Напишите нам" in ru.text and "Сообщение" in ru.text
    assert "Message" in en.text and "Write to us" in en.text
    for page in (ru, en):
        assert f'name="{spam.HONEYPOT_FIELD}"' in page.text
        assert f'name="{spam.TIMESTAMP_FIELD}"' in page.text
    assert (await client.get("/forms/no-such-form-here")).status_code == 404


async def test_form_with_attachment_becomes_a_ticket_and_the_thank_you_page_shows_its_number(
    client: httpx.AsyncClient, form: Channel, runtime: Runtime
) -> None:
    answer = await client.post(
        f"/forms/{KEY}",
        data=fields(runtime, form),
        files={"files": ("invoice.pdf", PDF, "application/pdf")},
        headers={"Accept": "text/html", "Accept-Language": "ru"},
    )
    assert answer.status_code == 303
    thanks = answer.headers["location"]
    waiting = await client.get(thanks)
    assert waiting.status_code == 200 and 'http-equiv="refresh"' in waiting.text
    await drain(runtime)

    async with runtime.db.uow() as uow:
        [ticket] = (await uow.session.scalars(select(Ticket))).all()
        [message] = (await uow.session.scalars(select(Message))).all()
        [file] = (await uow.session.scalars(select(Attachment))).all()
        identities = sorted(
            (await uow.session.execute(select(CustomerIdentity.kind, CustomerIdentity.value))).all()
        )
    assert ticket.channel_type == "webform" and ticket.subject == "Не пришёл заказ"
    assert message.text == "Заказ 1042 так и не доставили."
    assert message.metadata_["form"]["name"] == "Ирина Петрова"
    assert (file.filename, file.content_type, file.size) == ("invoice.pdf", "application/pdf", len(PDF))
    # The customer is found again by either: the e-mail files them, the phone is added.
    assert identities == [("email", "irina@example.ru"), ("phone", "+79161234567")]
    done = await client.get(thanks)
    assert f"#{ticket.id}" in done.text and "Номер вашего обращения" in done.text


async def test_a_shops_own_form_posts_with_cors_and_gets_json(
    client: httpx.AsyncClient, form: Channel, runtime: Runtime
) -> None:
    preflight = await client.options(f"/forms/{KEY}", headers={"Origin": SHOP})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == SHOP
    fetched = await client.get(f"/forms/{KEY}/token", headers={"Origin": SHOP})
    assert fetched.headers["access-control-allow-origin"] == SHOP
    assert fetched.json()["field"] == spam.TIMESTAMP_FIELD
    answer = await client.post(f"/forms/{KEY}", data=fields(runtime, form), headers={"Origin": SHOP})
    assert answer.status_code == 202
    assert answer.headers["access-control-allow-origin"] == SHOP
    assert answer.json()["accepted"] is True

    before = await snapshot(runtime)
    foreign = await client.post(
        f"/forms/{KEY}", data=fields(runtime, form), headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert "access-control-allow-origin" not in foreign.headers
    assert await snapshot(runtime) == before


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("honeypot", 400, "refused"),
        ("too_fast", 400, "refused"),
        ("no_timestamp", 400, "refused"),
        ("forged_timestamp", 400, "refused"),
        ("no_contact", 422, "invalid"),
        ("script_file", 422, "invalid"),
    ],
)
async def test_refused_submissions_store_nothing(
    client: httpx.AsyncClient, form: Channel, runtime: Runtime, case: str, status: int, code: str
) -> None:
    data = fields(runtime, form)
    files = None
    if case == "honeypot":
        data[spam.HONEYPOT_FIELD] = "http://cheap-pills.example"
    elif case == "too_fast":
        # Shown "in a minute": still under the form's minimum however long a loaded machine takes
        # to send the request (age 0 let a slow run pass the 3 s minimum).
        data[spam.TIMESTAMP_FIELD] = token(runtime, form, age=-60)
    elif case == "no_timestamp":
        del data[spam.TIMESTAMP_FIELD]
    elif case == "forged_timestamp":
        data[spam.TIMESTAMP_FIELD] = f"{int(utcnow().timestamp()) - 60}.{'0' * 32}"
    elif case == "no_contact":
        data["email"] = data["phone"] = ""
    else:
        files = {"files": ("page.html", b"<script>alert(1)</script>", "text/html")}
    before = await snapshot(runtime)
    answer = await client.post(f"/forms/{KEY}", data=data, files=files)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert await snapshot(runtime) == before


async def test_per_email_and_per_ip_limits(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    form = await make_form(client, desk, runtime, max_per_email=1, max_per_ip=2)
    assert (await client.post(f"/forms/{KEY}", data=fields(runtime, form))).status_code == 202
    before = await snapshot(runtime)
    same_email = await client.post(f"/forms/{KEY}", data=fields(runtime, form))
    assert same_email.status_code == 429
    assert await snapshot(runtime) == before
    other = fields(runtime, form, email="second@example.ru")
    assert (await client.post(f"/forms/{KEY}", data=other)).status_code == 202
    third = fields(runtime, form, email="third@example.ru")
    before = await snapshot(runtime)
    same_ip = await client.post(f"/forms/{KEY}", data=third)
    assert same_ip.status_code == 429
    assert await snapshot(runtime) == before


async def test_hosted_form_shows_a_refusal_in_the_page(
    client: httpx.AsyncClient, form: Channel, runtime: Runtime
) -> None:
    data = fields(runtime, form, email="", phone="")
    answer = await client.post(f"/forms/{KEY}?lang=ru", data=data, headers={"Accept": "text/html"})
    assert answer.status_code == 422
    assert "Укажите e-mail или телефон" in answer.text
    assert "Заказ 1042" in answer.text  # what the customer wrote is kept
