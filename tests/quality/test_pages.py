"""Quality pages in both languages, and who may open them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from opora.agents.models import Agent
from opora.auth.permissions import Principal
from opora.kit.time import utcnow
from opora.quality.models import Review, Scorecard
from opora.runtime import Runtime
from opora.surveys.models import CsatSurvey
from opora.web import templating
from tests.support.factories import Desk, session_for
from tests.support.snapshot import snapshot
from tests.surveys.support import make_channel, make_ticket, sending_channel


@pytest.fixture(autouse=True)
def _channel_type() -> Iterator[None]:
    with sending_channel():
        yield


class Page:
    def __init__(self, client: httpx.AsyncClient, cookie: str, csrf: str) -> None:
        self.client, self.cookie, self.csrf = client, cookie, csrf

    async def get(self, url: str) -> httpx.Response:
        return await self.client.get(
            url, headers={"Cookie": f"opora_session={self.cookie}", "Accept": "text/html"}
        )

    async def post(self, url: str, data: dict[str, str]) -> httpx.Response:
        return await self.client.post(
            url, data={**data, "csrf_token": self.csrf}, headers={"Cookie": f"opora_session={self.cookie}"}
        )


async def page_for(client: httpx.AsyncClient, runtime: Runtime, agent: Agent, language: str = "ru") -> Page:
    async with runtime.db.uow() as uow:
        row = await uow.session.get(Agent, agent.id)
        assert row is not None
        row.language = language
    cookie, csrf = await session_for(runtime, agent)
    return Page(client, cookie, csrf)


async def rated_ticket(runtime: Runtime, desk: Desk, rating: int, comment: str) -> tuple[int, int]:
    """A solved, rated ticket of Olga's with a message, without going through the survey link."""
    ticket_id = await make_ticket(
        runtime, await make_channel(runtime), assignee_id=desk.olga.id, team_id=desk.support.id
    )
    async with runtime.db.uow() as uow:
        survey = CsatSurvey(
            ticket_id=ticket_id,
            agent_id=desk.olga.id,
            channel_type="fakechat",
            language="ru",
            status="answered",
            rating=rating,
            comment=comment,
            follow_up="open" if rating <= 2 else None,
            answered_at=utcnow(),
        )
        uow.session.add(survey)
        await uow.session.flush()
        return ticket_id, survey.id


async def test_overview_shows_a_bad_rating_with_its_conversation_in_both_languages(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    ticket_id, survey_id = await rated_ticket(runtime, desk, 1, "Ужасно долго")
    ru = await (await page_for(client, runtime, desk.supervisor)).get("/quality")
    assert ru.status_code == 200
    assert "Плохие оценки, которые нужно разобрать" in ru.text and "Ужасно долго" in ru.text
    assert f'href="/tickets/{ticket_id}"' in ru.text and ">Качество<" in ru.text
    en_page = await page_for(client, runtime, desk.supervisor, "en")
    en = await en_page.get("/quality")
    assert "Bad ratings to follow up" in en.text and "Mark as handled" in en.text
    r = await en_page.post(f"/quality/follow-ups/{survey_id}/done", {})
    assert r.status_code == 303
    async with runtime.db.uow() as uow:
        assert (await uow.session.get(CsatSurvey, survey_id)).follow_up == "done"  # type: ignore[union-attr]


async def test_the_ticket_partial_shows_the_rating_and_the_reply_buttons(
    runtime: Runtime, desk: Desk
) -> None:
    _ticket_id, survey_id = await rated_ticket(runtime, desk, 2, "Не помогли")
    async with runtime.db.uow() as uow:
        survey = await uow.session.get(CsatSurvey, survey_id)

    class FakeViewer:
        principal = Principal(
            agent_id=desk.supervisor.id, role=desk.supervisor.role, team_ids=frozenset(), via="session"
        )  # type: ignore[arg-type]
        csrf_token = "t"

    html = templating.env.get_template("ui/quality/_ticket_csat.html").render(
        csat=survey, viewer=FakeViewer()
    )
    assert "Не помогли" in html and f"/quality/surveys/{survey_id}/reply" in html
    assert 'value="sorry"' in html and f"/quality/follow-ups/{survey_id}/done" in html


async def test_agents_see_only_their_reviews_and_no_scorecards(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    ticket_id, _ = await rated_ticket(runtime, desk, 4, "")
    async with runtime.db.uow() as uow:
        card = Scorecard(
            name="Чат",
            description="",
            is_active=True,
            criteria=[{"key": "tone", "label": "Тон", "weight": 1}],
        )
        uow.session.add(card)
        await uow.session.flush()
        uow.session.add(
            Review(
                scorecard_id=card.id,
                ticket_id=ticket_id,
                agent_id=desk.olga.id,
                status="pending",
                criteria=card.criteria,
                scores={},
                comment="",
            )
        )
    olga = await page_for(client, runtime, desk.olga)
    assert (await olga.get("/quality")).status_code == 303
    mine = await olga.get("/quality/reviews")
    assert mine.status_code == 200 and "Мои проверки" in mine.text
    assert f"#{ticket_id}" not in mine.text  # still pending: not shown to the agent
    assert (await olga.get("/quality/scorecards")).status_code == 403
    before = await snapshot(runtime)
    assert (await olga.post("/quality/sample", {"scorecard_id": str(card.id)})).status_code == 403
    assert await snapshot(runtime) == before

    supervisor = await page_for(client, runtime, desk.supervisor, "en")
    async with runtime.db.uow() as uow:
        review = (await uow.session.scalars(select(Review))).one()
    form = await supervisor.get(f"/quality/reviews/{review.id}")
    assert form.status_code == 200 and 'name="score_tone"' in form.text
    saved = await supervisor.post(f"/quality/reviews/{review.id}", {"score_tone": "4", "comment": "Молодец"})
    assert saved.status_code == 303
    shown = await olga.get(f"/quality/reviews/{review.id}")
    assert shown.status_code == 200 and "Молодец" in shown.text and "4 / 5" in shown.text


async def test_admin_edits_scorecards_on_the_page(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    admin = await page_for(client, runtime, desk.admin)
    assert "Оценочные листы" in (await admin.get("/quality/scorecards")).text
    assert (await admin.get("/quality/scorecards/new")).status_code == 200
    before = await snapshot(runtime)
    bad = await admin.post(
        "/quality/scorecards/new", {"name": "Почта", "criteria": "greeting | Приветствие | 0"}
    )
    assert bad.status_code == 422 and "from 1 to 100" in bad.text
    assert await snapshot(runtime) == before
    ok = await admin.post(
        "/quality/scorecards/new",
        {"name": "Почта", "criteria": "greeting | Приветствие | 10\ntone | Тон | 30", "is_active": "on"},
    )
    assert ok.status_code == 303
    async with runtime.db.uow() as uow:
        card = (await uow.session.scalars(select(Scorecard))).one()
    assert [c["weight"] for c in card.criteria] == [10, 30]
    edit = await admin.get(f"/quality/scorecards/{card.id}")
    assert "tone | Тон | 30" in edit.text


async def test_admin_sets_the_survey_delay_and_texts_on_the_page(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    admin = await page_for(client, runtime, desk.admin, "en")
    form = await admin.get("/quality/settings")
    assert form.status_code == 200 and "Minutes to wait after the solve" in form.text
    fields = {
        "enabled": "on",
        "delay_minutes": "15",
        "link_valid_days": "7",
        "survey_ru": "Оцените нас: {{survey.link}}",
        "survey_en": "Rate us: {{survey.link}}",
        "thanks_ru": "Спасибо!",
        "thanks_en": "Thanks!",
        "sorry_ru": "Простите",
        "sorry_en": "Sorry",
    }
    before = await snapshot(runtime)
    bad = await admin.post("/quality/settings", {**fields, "survey_en": "{{nope}}"})
    assert bad.status_code == 422 and "Unknown variable" in bad.text
    assert await snapshot(runtime) == before
    assert (await admin.post("/quality/settings", fields)).status_code == 303
    got = await client.get("/api/v1/surveys/settings", headers=desk.admin_h)
    assert (
        got.json()["delay_minutes"] == 15
        and got.json()["survey_texts"]["ru"] == "Оцените нас: {{survey.link}}"
    )
    olga = await page_for(client, runtime, desk.olga)
    assert (await olga.get("/quality/settings")).status_code == 403
