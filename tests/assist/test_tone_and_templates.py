"""The tone check with the desk's phrases and the customer's mood; templates ranked for a ticket."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from opora.agents.models import Role
from opora.assist import service, templates
from opora.assist.models import AssistSettings
from opora.auth.permissions import Principal
from opora.bot import service as bot_service
from opora.runtime import Runtime
from tests.assist.conftest import open_ticket
from tests.bot.fakes import WordHashEmbedder
from tests.support.factories import Desk

CALM = "Подскажите, можно ли оплатить заказ при получении?"
ANGRY = "Это безобразие! Третий раз пишу, заказ не доставлен, сколько можно?!"


async def _codes(client: httpx.AsyncClient, headers: dict[str, str], ticket_id: int, text: str) -> list[str]:
    r = await client.post("/api/v1/assist/tone", json={"ticket_id": ticket_id, "text": text}, headers=headers)
    assert r.status_code == 200, r.text
    return [h["code"] for h in r.json()]


async def test_an_upset_customer_calls_for_an_apology(client: httpx.AsyncClient, desk: Desk) -> None:
    calm = await open_ticket(client, desk.olga_h, team_id=desk.support.id, text=CALM)
    angry = await open_ticket(
        client, desk.olga_h, team_id=desk.support.id, text=ANGRY, email="a@mail.example"
    )
    draft = "Здравствуйте! Заказ передан курьеру, он приедет завтра."
    assert await _codes(client, desk.olga_h, calm, draft) == []
    assert await _codes(client, desk.olga_h, angry, draft) == ["no_apology"]
    assert await _codes(client, desk.olga_h, angry, "Здравствуйте! Простите за задержку.") == []
    assert await _codes(client, desk.olga_h, angry, "   ") == []


async def test_discouraged_phrases_are_the_desks_own(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    ticket = await open_ticket(client, desk.olga_h, team_id=desk.support.id, text=CALM)
    draft = "Уважаемый клиент, здравствуйте. Оплатить можно картой курьеру."
    # The defaults until an admin says otherwise.
    assert "discouraged" in await _codes(client, desk.olga_h, ticket, draft)
    r = await client.get("/api/v1/assist/settings", headers=desk.olga_h)
    assert r.status_code == 200 and "уважаемый клиент" in r.json()["discouraged_phrases"]

    r = await client.put(
        "/api/v1/assist/settings",
        json={"discouraged_phrases": ["  картой  курьеру ", "Картой курьеру", ""]},
        headers=desk.admin_h,
    )
    assert r.status_code == 200 and r.json() == {"discouraged_phrases": ["картой курьеру"]}
    r = await client.post(
        "/api/v1/assist/tone", json={"ticket_id": ticket, "text": draft}, headers=desk.olga_h
    )
    hints = r.json()
    assert [h["code"] for h in hints] == ["no_greeting", "discouraged"]
    assert "картой курьеру" in hints[1]["ru"] and "картой курьеру" in hints[1]["en"]


async def test_bad_settings_change_nothing(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    ok = await client.put(
        "/api/v1/assist/settings", json={"discouraged_phrases": ["добрый вечер"]}, headers=desk.admin_h
    )
    assert ok.status_code == 200
    bodies: list[dict[str, object]] = [
        {"discouraged_phrases": ["x" * 201]},
        {"discouraged_phrases": [f"фраза {i}" for i in range(101)]},
        {"discouraged_phrases": "уважаемый клиент"},
        {"phrases": []},
    ]
    for body in bodies:
        r = await client.put("/api/v1/assist/settings", json=body, headers=desk.admin_h)
        assert r.status_code == 422, body
    r = await client.put("/api/v1/assist/settings", json={"discouraged_phrases": []}, headers=desk.olga_h)
    assert r.status_code == 403
    async with runtime.db.uow() as uow:
        row = (await uow.session.scalars(select(AssistSettings))).one()
    assert row.discouraged_phrases == ["добрый вечер"]


async def test_tone_input_is_checked(client: httpx.AsyncClient, desk: Desk) -> None:
    billing = await open_ticket(client, desk.admin_h, team_id=desk.billing.id, text=CALM)
    r = await client.post(
        "/api/v1/assist/tone", json={"ticket_id": billing, "text": "Привет"}, headers=desk.olga_h
    )
    assert r.status_code == 403
    r = await client.post(
        "/api/v1/assist/tone", json={"ticket_id": billing, "text": "x" * 100_001}, headers=desk.admin_h
    )
    assert r.status_code == 422
    r = await client.post("/api/v1/assist/tone", json={"text": "Привет"}, headers=desk.admin_h)
    assert r.status_code == 422


def _t(id_: int, title: str, body: str, tags: tuple[str, ...] = ()) -> templates.TemplateText:
    return templates.TemplateText(id_, title, body, tags)


def test_templates_rank_by_intent_topic_and_words() -> None:
    pool = [
        _t(1, "Возврат денег", "{{customer.first_name}}, деньги вернутся на карту за 10 дней.", ("refunds",)),
        _t(2, "Задержка доставки", "Курьер задерживается, приедет завтра.", ("delivery",)),
        _t(3, "Статус заказа", "Ваш заказ {{order.number}} в пути.", ("order_status",)),
        _t(4, "Приветствие", "Здравствуйте!", ()),
    ]
    query = ["курьер", "посылк", "привез"]
    ranked = templates.rank(pool, query=query, topic="delivery", intent=None)
    assert [t.id for t, _ in ranked] == [2]
    ranked = templates.rank(pool, query=query, topic="delivery", intent="order_status")
    assert [t.id for t, _ in ranked] == [3, 2]
    # Variables are not words: a customer writing about "name" finds no template by it.
    assert templates.rank(pool, query=["name", "first", "customer"], topic=None, intent=None) == []
    assert templates.rank([], query=query, topic="delivery", intent="x") == []


async def test_the_panel_puts_the_template_of_the_bots_intent_first(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    async with runtime.db.uow() as uow:
        await bot_service.load_starter(uow, "en")
    async with runtime.db.uow() as uow:
        model = await bot_service.train(uow, "en", embedder=WordHashEmbedder())
        await bot_service.activate(uow, model.id)
    made: dict[str, int] = {}
    templates_made: list[tuple[str, str, list[str]]] = [
        ("Refund timing", "The refund reaches your card within 10 days.", ["refunds"]),
        ("Parcel on its way", "Your parcel {{order.number}} is on its way.", ["order_status"]),
        ("Order status", "Your order status is shown here.", []),
    ]
    for title, body, tags in templates_made:
        r = await client.post(
            "/api/v1/canned",
            json={"title": title, "body": body, "tags": tags, "shared": True, "language": "en"},
            headers=desk.admin_h,
        )
        assert r.status_code == 201, r.text
        made[tags[0] if tags else "faq"] = r.json()["id"]
    ticket = await open_ticket(
        client,
        desk.olga_h,
        team_id=desk.support.id,
        text="what is the status of order 12345",
        language="en",
    )
    principal = Principal(desk.olga.id, Role(desk.olga.role), frozenset({desk.support.id}), "session")
    async with runtime.db.uow() as uow:
        with_intent = await service.panel(uow, principal, ticket, embedder=WordHashEmbedder())
        without = await service.panel(uow, principal, ticket)  # no encoder loaded: words and topic only
    assert with_intent.intent == "order_status"
    # By words alone the generic template fits best; the intent's tag puts the specific one first.
    assert [t.id for t in with_intent.templates] == [made["order_status"], made["faq"]]
    assert without.intent is None
    assert [t.id for t in without.templates] == [made["faq"], made["order_status"]]
