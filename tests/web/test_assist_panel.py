"""The assistance panel and the tone check on the ticket page, and the style field of the admins."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from opora.assist.models import AssistSettings
from opora.runtime import Runtime
from tests.assist.conftest import open_ticket, solved_ticket
from tests.kb.conftest import make_article
from tests.support.factories import Desk
from tests.web.conftest import PageSession

ASK = "Курьер не привёз посылку, где мой заказ?"


async def test_the_page_loads_the_panel_afterwards(
    client: httpx.AsyncClient, desk: Desk, login: object
) -> None:
    ticket = await open_ticket(client, desk.olga_h, team_id=desk.support.id, text=ASK)
    olga: PageSession = await login(desk.olga)  # type: ignore[operator]
    r = await olga.get(f"/tickets/{ticket}")
    assert r.status_code == 200
    assert f'hx-get="/tickets/{ticket}/assist"' in r.text and 'hx-post="/tickets/' in r.text
    assert "data-similar-ticket" not in r.text  # nothing of the panel is computed with the page
    reader: PageSession = await login(desk.reader)  # type: ignore[operator]
    r = await reader.get(f"/tickets/{ticket}")
    assert r.status_code == 200 and "/assist" not in r.text
    r = await reader.get(f"/tickets/{ticket}/assist")
    assert r.status_code == 403


async def test_the_panel_offers_an_article_a_solved_ticket_and_a_template(
    client: httpx.AsyncClient, desk: Desk, login: object
) -> None:
    article = await make_article(
        client,
        desk.admin_h,
        publish_h=desk.admin_h,
        title="Курьер опаздывает с доставкой",
        body_md="Если курьер не привёз посылку, напишите нам номер заказа.",
    )
    solved = await solved_ticket(
        client,
        desk.olga_h,
        team_id=desk.support.id,
        text="Посылку так и не привезли, курьер не пришёл",
        answer="Курьер приедет завтра <до обеда>.",
        email="old@mail.example",
    )
    r = await client.post(
        "/api/v1/canned",
        json={
            "title": "Задержка курьера",
            "body": "{{customer.first_name}}, курьер приедет завтра.",
            "shared": True,
        },
        headers=desk.admin_h,
    )
    assert r.status_code == 201, r.text
    template_id = r.json()["id"]
    ticket = await open_ticket(client, desk.olga_h, team_id=desk.support.id, text=ASK)
    olga: PageSession = await login(desk.olga)  # type: ignore[operator]
    r = await olga.get(f"/tickets/{ticket}/assist", headers={"HX-Request": "true"})
    assert r.status_code == 200, r.text
    assert f'data-article-id="{article["id"]}"' in r.text
    link = f"http://testserver/help/ru/articles/{article['slug']}"
    assert f'data-insert-text="Курьер опаздывает с доставкой: {link}"' in r.text
    assert f'data-similar-ticket="{solved}"' in r.text
    # The reply is escaped into the attribute the insert button reads.
    assert 'data-insert-text="Курьер приедет завтра &lt;до обеда&gt;."' in r.text
    assert f'data-canned-id="{template_id}"' in r.text
    r = await olga.get(f"/ui/canned/{template_id}/text?ticket_id={ticket}")
    assert r.text == "Иван, курьер приедет завтра."


async def test_the_panel_says_when_it_has_nothing(
    client: httpx.AsyncClient, desk: Desk, login: object
) -> None:
    ticket = await open_ticket(client, desk.olga_h, team_id=desk.support.id, text="Ыыы")
    olga: PageSession = await login(desk.olga)  # type: ignore[operator]
    r = await olga.get(f"/tickets/{ticket}/assist")
    assert r.status_code == 200 and "Подсказок для этого обращения пока нет" in r.text


async def test_tone_hints_need_csrf_and_valid_input(
    client: httpx.AsyncClient, desk: Desk, login: object
) -> None:
    ticket = await open_ticket(
        client, desk.olga_h, team_id=desk.support.id, text="Это безобразие, сколько можно ждать!"
    )
    other = await open_ticket(client, desk.admin_h, team_id=desk.billing.id, text=ASK, email="b@mail.example")
    olga: PageSession = await login(desk.olga)  # type: ignore[operator]
    r = await olga.post(f"/tickets/{ticket}/tone", data={"text": "Уважаемый клиент"}, csrf=False)
    assert r.status_code == 403
    r = await olga.post(
        f"/tickets/{ticket}/tone", data={"text": "Уважаемый клиент, ок"}, headers={"HX-Request": "true"}
    )
    assert r.status_code == 200
    assert 'data-hint="discouraged"' in r.text and "«уважаемый клиент»" in r.text
    assert 'data-hint="no_apology"' in r.text and 'data-hint="informal"' in r.text
    r = await olga.post(f"/tickets/{ticket}/tone", data={"text": "x" * 100_001})
    assert r.status_code == 422
    r = await olga.post(f"/tickets/{other}/tone", data={"text": "Здравствуйте"})
    assert r.status_code == 403
    r = await olga.post("/tickets/999999/tone", data={"text": "Здравствуйте"})
    assert r.status_code == 404


async def test_admins_keep_the_phrases_on_the_templates_screen(
    admin_page: PageSession, desk: Desk, runtime: Runtime
) -> None:
    r = await admin_page.get("/admin/templates")
    assert r.status_code == 200 and 'name="discouraged_phrases"' in r.text
    assert "уважаемый клиент" in r.text  # the defaults, shown before anything is saved
    r = await admin_page.post(
        "/admin/templates/style", data={"discouraged_phrases": "Дорогой клиент\n\nВаш звонок важен"}
    )
    assert r.status_code == 303
    r = await admin_page.post("/admin/templates/style", data={"discouraged_phrases": "x" * 300})
    assert r.status_code == 422 and 'aria-invalid="true"' in r.text
    r = await admin_page.post("/admin/templates/style", data={"discouraged_phrases": "a"}, csrf=False)
    assert r.status_code == 403
    async with runtime.db.uow() as uow:
        row = (await uow.session.scalars(select(AssistSettings))).one()
    assert row.discouraged_phrases == ["Дорогой клиент", "Ваш звонок важен"]
