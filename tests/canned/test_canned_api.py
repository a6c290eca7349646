from typing import Any

import httpx
import pytest

from opora.agents.models import Role
from opora.auth.permissions import Principal
from opora.canned import service
from opora.kit.errors import NotFound
from opora.runtime import Runtime
from tests.support.factories import Desk
from tests.support.snapshot import snapshot

CANNED = "/api/v1/canned"


def template(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Доставка задерживается",
        "body": "Здравствуйте, {{customer.first_name|клиент}}! Заказ {{order.number}} уже в пути. {{agent.name}}",
        "shortcut": "delay",
        "language": "ru",
        "tags": ["Доставка"],
    }
    body.update(overrides)
    return body


async def create(client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    r = await client.post(CANNED, json=template(**overrides), headers=headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def titles(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [item["title"] for item in r.json()["items"]]


def olga_principal(desk: Desk) -> Principal:
    return Principal(
        agent_id=desk.olga.id, role=Role.AGENT, team_ids=frozenset({desk.support.id}), via="token"
    )


async def test_personal_templates_are_their_owners_alone(client: httpx.AsyncClient, desk: Desk) -> None:
    mine = await create(client, desk.olga_h, title="Olga's own")
    shared = await create(client, desk.supervisor_h, title="For everyone", shortcut="all", shared=True)
    assert mine["shared"] is False and mine["owner_id"] == desk.olga.id
    assert mine["created_by"] == desk.olga.id and mine["tags"] == ["доставка"]
    assert mine["variables"] == ["customer.first_name", "order.number", "agent.name"]
    assert shared["shared"] is True and shared["owner_id"] is None

    assert titles(await client.get(CANNED, headers=desk.olga_h)) == ["For everyone", "Olga's own"]
    # Nobody else sees it, an admin neither: a personal template is private.
    for headers in (desk.pavel_h, desk.admin_h):
        assert titles(await client.get(CANNED, headers=headers)) == ["For everyone"]
        r = await client.get(f"{CANNED}/{mine['id']}", headers=headers)
        assert r.status_code == 404
    assert titles(await client.get(CANNED, params={"scope": "personal"}, headers=desk.olga_h)) == [
        "Olga's own"
    ]
    assert titles(await client.get(CANNED, params={"scope": "shared"}, headers=desk.olga_h)) == [
        "For everyone"
    ]


async def test_search_ignores_case_in_cyrillic_and_reads_yo_as_ye(
    client: httpx.AsyncClient, desk: Desk
) -> None:
    await create(client, desk.olga_h, title="Доставка задерживается", shortcut="delay")
    await create(
        client,
        desk.olga_h,
        title="Возврат денег",
        body="Деньги вернутся ещё до пятницы.",
        shortcut="refund",
        tags=["Оплата", "Возврат"],
    )
    await create(client, desk.olga_h, title="Hello", body="Hi there", shortcut="hi", language="en", tags=[])

    async def search(**params: str) -> list[str]:
        return titles(await client.get(CANNED, params=params, headers=desk.olga_h))

    assert await search(q="ДОСТАВКА") == ["Доставка задерживается"]
    assert await search(q="доставКА") == ["Доставка задерживается"]
    assert await search(q="ЕЩЕ ДО") == ["Возврат денег"]  # "ещё" in the body
    assert await search(q="REFUND") == ["Возврат денег"]  # the shortcut
    assert await search(q="%") == []  # wildcards are literal
    assert await search(language="en") == ["Hello"]
    assert await search(language="ru") == ["Возврат денег", "Доставка задерживается"]
    assert await search(q="оплата") == ["Возврат денег"]  # tags are searched too
    assert await search(tag="ОПЛАТА") == ["Возврат денег"]
    assert await search(tag="доставка") == ["Доставка задерживается"]
    assert await search(tag="достав") == []  # tags match whole


async def test_picker_search_puts_the_exact_shortcut_first(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    await create(client, desk.olga_h, title="Аааа спасибо", body="Спасибо за заказ!", shortcut="thanks2")
    await create(
        client, desk.supervisor_h, title="Благодарность", body="Спасибо!", shortcut="спасибо", shared=True
    )
    await create(client, desk.olga_h, title="Спасибо за ожидание", body="Ждём", shortcut="wait")
    await create(client, desk.pavel_h, title="Спасибо от Павла", body="Pavel's", shortcut="p")
    async with runtime.db.uow() as uow:
        found = await service.search(uow, olga_principal(desk), "СПАСИБО")
        assert [c.title for c in found] == ["Благодарность", "Спасибо за ожидание", "Аааа спасибо"]
        assert [c.title for c in await service.search(uow, olga_principal(desk), None, limit=1)] == [
            "Аааа спасибо"
        ]
    r = await client.get(f"{CANNED}/search", params={"q": "спасибо"}, headers=desk.olga_h)
    assert [c["title"] for c in r.json()] == ["Благодарность", "Спасибо за ожидание", "Аааа спасибо"]


async def test_pages_follow_title_order(client: httpx.AsyncClient, desk: Desk) -> None:
    for n in range(5):
        await create(client, desk.olga_h, title=f"Шаблон {n}", shortcut=f"t{n}")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(CANNED, params=params, headers=desk.olga_h)).json()
        seen += [item["title"] for item in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [f"Шаблон {n}" for n in range(5)]


async def test_only_supervisors_write_shared_templates(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    shared = await create(client, desk.supervisor_h, shared=True)
    mine = await create(client, desk.olga_h, shortcut="mine")
    before = await snapshot(runtime)
    refused = [
        await client.post(CANNED, json=template(shortcut="x", shared=True), headers=desk.olga_h),
        await client.patch(f"{CANNED}/{shared['id']}", json={"title": "Mine now"}, headers=desk.olga_h),
        await client.delete(f"{CANNED}/{shared['id']}", headers=desk.olga_h),
        await client.patch(f"{CANNED}/{mine['id']}", json={"shared": True}, headers=desk.olga_h),
        await client.post(CANNED, json=template(shortcut="ro"), headers=desk.reader_h),
    ]
    assert [r.status_code for r in refused] == [403] * 5
    assert refused[0].json()["error"]["code"] == "forbidden"
    # Someone else's personal template cannot be touched, nor learned about.
    for call in (
        client.patch(f"{CANNED}/{mine['id']}", json={"title": "x"}, headers=desk.pavel_h),
        client.delete(f"{CANNED}/{mine['id']}", headers=desk.admin_h),
    ):
        assert (await call).status_code == 404
    assert await snapshot(runtime) == before

    r = await client.patch(
        f"{CANNED}/{shared['id']}", json={"title": "Задержка", "tags": ["Срочно"]}, headers=desk.admin_h
    )
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "Задержка" and r.json()["tags"] == ["срочно"]
    assert r.json()["updated_at"] >= shared["updated_at"]
    assert titles(await client.get(CANNED, params={"q": "задерж"}, headers=desk.pavel_h)) == ["Задержка"]
    r = await client.delete(f"{CANNED}/{shared['id']}", headers=desk.supervisor_h)
    assert r.status_code == 204
    assert (await client.get(f"{CANNED}/{shared['id']}", headers=desk.supervisor_h)).status_code == 404


async def test_owner_edits_and_deletes_a_personal_template(client: httpx.AsyncClient, desk: Desk) -> None:
    mine = await create(client, desk.olga_h)
    r = await client.patch(
        f"{CANNED}/{mine['id']}",
        json={"body": "Спасибо, {{customer.name}}!", "shortcut": None},
        headers=desk.olga_h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["shortcut"] is None and r.json()["variables"] == ["customer.name"]
    assert titles(await client.get(CANNED, params={"q": "спасибо"}, headers=desk.olga_h)) == [mine["title"]]
    assert (await client.delete(f"{CANNED}/{mine['id']}", headers=desk.olga_h)).status_code == 204
    assert titles(await client.get(CANNED, headers=desk.olga_h)) == []


async def test_unknown_variables_are_refused_by_name(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    mine = await create(client, desk.olga_h)
    before = await snapshot(runtime)
    r = await client.post(
        CANNED, json=template(body="Hi {{customer.nmae}}, {{order.id}} {{agent.name}}"), headers=desk.olga_h
    )
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["field"] == "body" and error["variables"] == ["customer.nmae", "order.id"]
    assert "{{customer.nmae}}" in error["message"] and "{{order.id}}" in error["message"]
    r = await client.patch(f"{CANNED}/{mine['id']}", json={"body": "{{ticket.nope}}"}, headers=desk.olga_h)
    assert r.status_code == 422 and r.json()["error"]["variables"] == ["ticket.nope"]
    assert await snapshot(runtime) == before


async def test_shortcuts_are_unique_per_owner_and_among_shared(client: httpx.AsyncClient, desk: Desk) -> None:
    await create(client, desk.olga_h, shortcut="hello")
    r = await client.post(CANNED, json=template(shortcut="/HELLO"), headers=desk.olga_h)
    assert r.status_code == 409 and r.json()["error"]["field"] == "shortcut"
    # Another agent, or the shared library, may use the same shortcut.
    assert (await create(client, desk.pavel_h, shortcut="hello"))["shortcut"] == "hello"
    assert (await create(client, desk.supervisor_h, shortcut="hello", shared=True))["shortcut"] == "hello"


async def test_render_fills_the_template_for_the_ticket(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    ticket = await client.post(
        "/api/v1/tickets",
        json={
            "subject": "Где мой заказ?",
            "customer": {
                "identity": {"kind": "email", "value": "Irina@Mail.example"},
                "name": "Ирина Петрова",
            },
            "message": {"text": "Здравствуйте!", "author": "customer"},
            "team_id": desk.support.id,
            "custom_fields": {"order_number": "A-10452"},
        },
        headers=desk.olga_h,
    )
    assert ticket.status_code == 201, ticket.text
    ticket_id = ticket.json()["id"]
    canned = await create(
        client,
        desk.olga_h,
        body="{{customer.first_name}} ({{customer.name}}, {{customer.email}}), заказ {{order.number}} "
        "по обращению #{{ticket.number}}. {{agent.name}}, {{shop.name|магазин}}",
    )
    r = await client.post(
        f"{CANNED}/{canned['id']}/render", json={"ticket_id": ticket_id}, headers=desk.olga_h
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "canned_id": canned["id"],
        "ticket_id": ticket_id,
        "text": f"Ирина (Ирина Петрова, irina@mail.example), заказ A-10452 по обращению #{ticket_id}. Olga, магазин",
    }
    async with runtime.db.uow() as uow:
        text = await service.render_for(uow, olga_principal(desk), canned["id"], ticket_id)
        assert text.startswith("Ирина (")
        with pytest.raises(NotFound):
            await service.render_for(uow, olga_principal(desk), canned["id"] + 1000, ticket_id)

    # Pavel's team does not see the ticket, and Olga's template is not his.
    shared = await create(client, desk.supervisor_h, shortcut="s", shared=True)
    r = await client.post(
        f"{CANNED}/{shared['id']}/render", json={"ticket_id": ticket_id}, headers=desk.pavel_h
    )
    assert r.status_code == 403
    r = await client.post(
        f"{CANNED}/{canned['id']}/render", json={"ticket_id": ticket_id}, headers=desk.pavel_h
    )
    assert r.status_code == 404
