"""The admin screens through a logged-in browser session (httpx, no browser)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from opora.agents.models import Agent, Calendar, Role, Team, TeamMember
from opora.auth.permissions import Principal
from opora.canned import service as canned_service
from opora.canned.models import CannedResponse
from opora.canned.schemas import CannedCreate
from opora.channels import service as channels_service
from opora.channels.models import Channel
from opora.inbox.models import InboundPayload, PayloadState
from opora.jobs import service as jobs_service
from opora.jobs.models import Job
from opora.runtime import Runtime
from tests.support.factories import Desk
from tests.support.snapshot import snapshot
from tests.web.conftest import PageSession


@dataclass
class Things:
    channel_id: int
    canned_id: int
    job_id: int
    payload_id: int


def principal_of(agent: Agent) -> Principal:
    return Principal(agent_id=agent.id, role=Role(agent.role), team_ids=frozenset(), via="session")


@pytest.fixture
async def things(runtime: Runtime, desk: Desk) -> Things:
    """One of everything the admin screens list: a channel with a secret, a shared template,
    a dead job, and a quarantined payload whose raw text would run script if not escaped."""
    async with runtime.db.uow() as uow:
        channel = Channel(
            type="api",
            name="Shop API",
            settings={"shop": "main", "limit": 5},
            secrets_encrypted=runtime.secrets.seal({"token": "super-secret-value"}),
        )
        uow.session.add(channel)
        await uow.session.flush()
        payload = InboundPayload(
            channel_id=channel.id,
            external_id="ext-1",
            content_type="application/json",
            payload='{"text": "<script>alert(1)</script>"}',
            state=PayloadState.QUARANTINED,
            error="not JSON we know",
            attempts=1,
        )
        uow.session.add(payload)
        canned = await canned_service.create(
            uow,
            principal_of(desk.admin),
            CannedCreate(title="Delivery times", body="Hello {{customer.first_name}}!", shared=True),
        )
        job_id = await jobs_service.enqueue(uow, "messages.deliver", {"message_id": 7})
    assert job_id is not None
    async with runtime.db.uow() as uow:
        job = await uow.session.get(Job, job_id)
        assert job is not None
        job.state, job.attempts, job.last_error = "dead", 8, "SMTP 550 mailbox unavailable"
    return Things(channel.id, canned.id, job_id, payload.id)


async def english(runtime: Runtime, agent: Agent) -> None:
    async with runtime.db.uow() as uow:
        row = await uow.session.get(Agent, agent.id)
        assert row is not None
        row.language = "en"


async def load(runtime: Runtime, model: Any, row_id: Any) -> Any:
    async with runtime.db.uow() as uow:
        return await uow.session.get(model, row_id)


async def team_members(runtime: Runtime, team_id: int) -> set[int]:
    async with runtime.db.uow() as uow:
        rows = await uow.session.scalars(select(TeamMember.agent_id).where(TeamMember.team_id == team_id))
        return set(rows.all())


async def agent_teams(runtime: Runtime, agent_id: int) -> set[int]:
    async with runtime.db.uow() as uow:
        rows = await uow.session.scalars(select(TeamMember.team_id).where(TeamMember.agent_id == agent_id))
        return set(rows.all())


# Every screen renders


async def test_every_screen_renders_for_an_admin(
    admin_page: PageSession, desk: Desk, things: Things, runtime: Runtime
) -> None:
    await english(runtime, desk.admin)
    expected = {
        "/admin": ["Administration", "1</span> failed job<", "2</span> teams<", 'href="/admin/inbound"'],
        "/admin/agents": ["Olga", "olga@shop.test", "Support", "Read-only"],
        "/admin/agents/new": ["New agent", 'name="csrf_token"', "Password (optional)"],
        f"/admin/agents/{desk.olga.id}": ["Edit agent", "olga@shop.test", "Active (may log in"],
        "/admin/teams": ["Support", "Billing", "Olga"],
        "/admin/teams/new": ["New team", "Pavel"],
        f"/admin/teams/{desk.support.id}": ["Edit team", 'value="Support"'],
        "/admin/channels": ["Shop API", "1 set", "Enabled"],
        "/admin/channels/new": ["New channel", 'value="email"'],
        "/admin/channels/new?type=email": ["Email", 'name="setting_key"', 'name="new_secret_name"'],
        f"/admin/channels/{things.channel_id}": ["Shop API", 'value="shop"', 'value="main"', "token"],
        "/admin/templates": ["Delivery times", "Hello {{customer.first_name}}!"],
        "/admin/templates?q=deliv": ["Delivery times"],
        "/admin/templates/new": ["New shared template", "{{customer.name}}"],
        f"/admin/templates/{things.canned_id}": ["Edit shared template", "Hello Irina!"],
        "/admin/jobs": ["messages.deliver", "8 / ", "SMTP 550 mailbox unavailable"],
        f"/admin/jobs/{things.job_id}": ["messages.deliver", "Retry", "&#34;message_id&#34;: 7"],
        "/admin/inbound": ["Shop API", "not JSON we know"],
        f"/admin/inbound/{things.payload_id}": ["ext-1", "Retry", "&lt;script&gt;alert(1)&lt;/script&gt;"],
    }
    for url, needles in expected.items():
        r = await admin_page.get(url)
        assert r.status_code == 200, url
        assert 'class="admin-nav' in r.text, url
        for needle in needles:
            assert needle in r.text, (url, needle)
    search = await admin_page.get("/admin/templates?q=nothing-like-this")
    assert "Delivery times" not in search.text


async def test_a_stored_secret_is_never_sent_to_the_browser(admin_page: PageSession, things: Things) -> None:
    for url in ("/admin/channels", f"/admin/channels/{things.channel_id}"):
        r = await admin_page.get(url)
        assert r.status_code == 200
        assert "super-secret-value" not in r.text


async def test_the_raw_payload_is_escaped_and_cut(
    admin_page: PageSession, runtime: Runtime, things: Things
) -> None:
    async with runtime.db.uow() as uow:
        row = await uow.session.get(InboundPayload, things.payload_id)
        assert row is not None
        row.payload = "<script>alert(1)</script>" + "x" * 50_000
    r = await admin_page.get(f"/admin/inbound/{things.payload_id}")
    assert r.status_code == 200
    assert "<script>alert(1)" not in r.text
    assert "&lt;script&gt;alert(1)" in r.text
    shown = 20_000 - len("<script>alert(1)</script>")
    assert "x" * shown in r.text and "x" * (shown + 1) not in r.text


# Who may open them


async def test_non_admins_are_refused(login, desk: Desk, things: Things) -> None:  # type: ignore[no-untyped-def]
    for agent in (desk.supervisor, desk.olga, desk.reader):
        session: PageSession = await login(agent)
        for url in (
            "/admin",
            "/admin/agents",
            "/admin/channels",
            "/admin/jobs",
            f"/admin/inbound/{things.payload_id}",
        ):
            r = await session.get(url, headers={"Accept": "text/html"})
            assert r.status_code == 403, (agent.name, url)
        r = await session.post(f"/admin/jobs/{things.job_id}/retry")
        assert r.status_code == 403


async def test_a_logged_out_browser_is_sent_to_login(client) -> None:  # type: ignore[no-untyped-def]
    r = await client.get("/admin/agents")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    admin_page: PageSession, runtime: Runtime, desk: Desk, things: Things
) -> None:
    before = await snapshot(runtime)
    posts: list[tuple[str, dict[str, Any]]] = [
        ("/admin/agents", {"name": "Ivan", "email": "ivan@shop.test", "role": "agent"}),
        (
            f"/admin/agents/{desk.olga.id}",
            {"name": "Olga", "role": "admin", "language": "ru", "is_active": "1"},
        ),
        ("/admin/teams", {"name": "Returns"}),
        (f"/admin/channels/{things.channel_id}/deactivate", {}),
        (f"/admin/templates/{things.canned_id}/delete", {}),
        (f"/admin/jobs/{things.job_id}/retry", {}),
        (f"/admin/inbound/{things.payload_id}/retry", {}),
    ]
    for url, data in posts:
        r = await admin_page.post(url, data=data, csrf=False)
        assert r.status_code == 403, url
        wrong = await admin_page.post(url, data={**data, "csrf_token": "forged"}, csrf=False)
        assert wrong.status_code == 403, url
    assert await snapshot(runtime) == before


# Agents


async def test_create_and_edit_an_agent(admin_page: PageSession, runtime: Runtime, desk: Desk) -> None:
    r = await admin_page.post(
        "/admin/agents",
        data={
            "name": "Ivan Petrov",
            "email": "Ivan@Shop.test",
            "role": "supervisor",
            "team_ids": [str(desk.support.id), str(desk.billing.id)],
            "language": "en",
            "password": "",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/admin/agents?done=created"
    async with runtime.db.uow() as uow:
        ivan = (await uow.session.scalars(select(Agent).where(Agent.email == "ivan@shop.test"))).one()
    assert (ivan.name, ivan.role, ivan.language, ivan.password_hash) == (
        "Ivan Petrov",
        "supervisor",
        "en",
        None,
    )
    assert await agent_teams(runtime, ivan.id) == {desk.support.id, desk.billing.id}
    listed = await admin_page.get("/admin/agents?done=created")
    assert "Ivan Petrov" in listed.text and 'role="status"' in listed.text

    r = await admin_page.post(
        f"/admin/agents/{ivan.id}",
        data={"name": "Ivan P.", "role": "agent", "team_ids": [str(desk.billing.id)], "language": "ru"},
    )
    assert r.status_code == 303
    edited = await load(runtime, Agent, ivan.id)
    assert (edited.name, edited.role, edited.language, edited.is_active) == ("Ivan P.", "agent", "ru", False)
    assert await agent_teams(runtime, ivan.id) == {desk.billing.id}
    page = await admin_page.get(f"/admin/agents/{ivan.id}")
    assert 'value="Ivan P."' in page.text


async def test_an_invalid_agent_form_is_shown_again_and_changes_nothing(
    admin_page: PageSession, runtime: Runtime, desk: Desk
) -> None:
    await english(runtime, desk.admin)
    before = await snapshot(runtime)
    r = await admin_page.post(
        "/admin/agents",
        data={"name": "Ivan", "email": "not-an-address", "role": "agent", "password": "short"},
    )
    assert r.status_code == 422
    assert 'id="err-email"' in r.text and "Enter a valid e-mail address." in r.text
    assert 'id="err-password"' in r.text
    assert 'value="not-an-address"' in r.text and 'value="Ivan"' in r.text
    taken = await admin_page.post(
        "/admin/agents",
        data={
            "name": "Another Olga",
            "email": "olga@shop.test",
            "role": "agent",
            "team_ids": [str(desk.support.id)],
        },
    )
    assert taken.status_code == 409
    assert "An agent with this e-mail already exists." in taken.text
    forged = await admin_page.post(
        f"/admin/agents/{desk.olga.id}",
        data={"name": "Olga", "role": "admin", "language": "ru", "is_active": "1", "team_ids": ["x"]},
    )
    assert forged.status_code == 422 and 'id="err-team_ids"' in forged.text
    assert await snapshot(runtime) == before


async def test_an_admin_cannot_demote_or_deactivate_themselves(
    admin_page: PageSession, runtime: Runtime, desk: Desk
) -> None:
    await english(runtime, desk.admin)
    before = await snapshot(runtime)
    r = await admin_page.post(
        f"/admin/agents/{desk.admin.id}",
        data={"name": "Anna", "role": "agent", "language": "en"},
    )
    assert r.status_code == 422
    assert "You cannot take away your own administrator role." in r.text
    assert "You cannot deactivate your own account." in r.text
    assert await snapshot(runtime) == before
    ok = await admin_page.post(
        f"/admin/agents/{desk.admin.id}",
        data={"name": "Anna K.", "role": "admin", "language": "en", "is_active": "1"},
    )
    assert ok.status_code == 303
    assert (await load(runtime, Agent, desk.admin.id)).name == "Anna K."


# Teams


async def test_create_and_edit_a_team(admin_page: PageSession, runtime: Runtime, desk: Desk) -> None:
    async with runtime.db.uow() as uow:
        calendar = Calendar(name="Moscow office", timezone="Europe/Moscow", weekly_hours={})
        uow.session.add(calendar)
    form = await admin_page.get("/admin/teams/new")
    assert "Moscow office" in form.text
    r = await admin_page.post(
        "/admin/teams",
        data={
            "name": "Returns",
            "description": "Refunds and returns",
            "calendar_id": str(calendar.id),
            "member_ids": [str(desk.olga.id), str(desk.pavel.id)],
        },
    )
    assert r.status_code == 303
    async with runtime.db.uow() as uow:
        team = (await uow.session.scalars(select(Team).where(Team.name == "Returns"))).one()
    assert (team.description, team.calendar_id) == ("Refunds and returns", calendar.id)
    assert await team_members(runtime, team.id) == {desk.olga.id, desk.pavel.id}

    r = await admin_page.post(
        f"/admin/teams/{team.id}",
        data={
            "name": "Returns & refunds",
            "description": "",
            "calendar_id": "",
            "member_ids": [str(desk.pavel.id)],
        },
    )
    assert r.status_code == 303
    edited = await load(runtime, Team, team.id)
    assert (edited.name, edited.description, edited.calendar_id) == ("Returns & refunds", "", None)
    assert await team_members(runtime, team.id) == {desk.pavel.id}
    listed = await admin_page.get("/admin/teams")
    assert "Returns &amp; refunds" in listed.text


async def test_a_team_name_in_use_is_refused_beside_the_field(
    admin_page: PageSession, runtime: Runtime, desk: Desk
) -> None:
    before = await snapshot(runtime)
    r = await admin_page.post(
        f"/admin/teams/{desk.billing.id}",
        data={"name": "Support", "member_ids": [str(desk.olga.id)]},
    )
    assert r.status_code == 409
    assert 'id="err-name"' in r.text and "Команда с таким названием уже есть." in r.text
    empty = await admin_page.post("/admin/teams", data={"name": "  "})
    assert empty.status_code == 422 and 'id="err-name"' in empty.text
    assert await snapshot(runtime) == before


# Channels


async def test_create_edit_and_deactivate_a_channel(admin_page: PageSession, runtime: Runtime) -> None:
    r = await admin_page.post(
        "/admin/channels",
        data={
            "type": "email",
            "name": "Support mailbox",
            "setting_key": ["address", "smtp_host", "smtp_port", ""],
            "setting_value": ["help@shop.test", "smtp.shop.test", "587", ""],
            "new_secret_name": "smtp_password",
            "new_secret_value": "hunter2-hunter2",
        },
    )
    assert r.status_code == 303, r.text
    async with runtime.db.uow() as uow:
        channel = (await uow.session.scalars(select(Channel).where(Channel.name == "Support mailbox"))).one()
    assert channel.settings == {"address": "help@shop.test", "smtp_host": "smtp.shop.test", "smtp_port": 587}
    assert channels_service.channel_secrets(runtime, channel) == {"smtp_password": "hunter2-hunter2"}
    page = await admin_page.get(r.headers["location"])
    assert page.status_code == 200
    assert "hunter2" not in page.text
    assert 'data-secret="smtp_password"' in page.text

    # An empty secret field keeps the stored value; an emptied setting is removed.
    r = await admin_page.post(
        f"/admin/channels/{channel.id}",
        data={
            "name": "Mailbox",
            "setting_key": ["address", "smtp_host", "smtp_port"],
            "setting_value": ["help@shop.test", "smtp.shop.test", ""],
            "secret_name": ["smtp_password"],
            "secret_value": [""],
        },
    )
    assert r.status_code == 303
    edited = await load(runtime, Channel, channel.id)
    assert edited.name == "Mailbox"
    assert edited.settings == {"address": "help@shop.test", "smtp_host": "smtp.shop.test"}
    assert channels_service.channel_secrets(runtime, edited) == {"smtp_password": "hunter2-hunter2"}

    r = await admin_page.post(
        f"/admin/channels/{channel.id}",
        data={
            "name": "Mailbox",
            "setting_key": ["address", "smtp_host"],
            "setting_value": ["help@shop.test", "smtp.shop.test"],
            "secret_name": ["smtp_password"],
            "secret_value": ["new-password-1"],
        },
    )
    assert r.status_code == 303
    replaced = await load(runtime, Channel, channel.id)
    assert channels_service.channel_secrets(runtime, replaced) == {"smtp_password": "new-password-1"}

    assert (await admin_page.post(f"/admin/channels/{channel.id}/deactivate")).status_code == 303
    assert (await load(runtime, Channel, channel.id)).is_active is False
    assert (await admin_page.post(f"/admin/channels/{channel.id}/activate")).status_code == 303
    assert (await load(runtime, Channel, channel.id)).is_active is True


async def test_a_wrong_channel_configuration_is_shown_and_changes_nothing(
    admin_page: PageSession, runtime: Runtime, desk: Desk, things: Things
) -> None:
    await english(runtime, desk.admin)
    before = await snapshot(runtime)
    r = await admin_page.post(
        "/admin/channels",
        data={
            "type": "email",
            "name": "Broken",
            "setting_key": ["smtp_host"],
            "setting_value": ["smtp.shop.test"],
            "new_secret_name": "smtp_password",
            "new_secret_value": "typed-secret",
        },
    )
    assert r.status_code == 422
    assert 'id="err-settings"' in r.text and "&#39;address&#39; needs an email address" in r.text
    assert 'value="smtp.shop.test"' in r.text
    assert "typed-secret" not in r.text
    leaked = await admin_page.post(
        f"/admin/channels/{things.channel_id}",
        data={"name": "Shop API", "setting_key": ["api_token"], "setting_value": ["abc"]},
    )
    assert leaked.status_code == 422 and "add it under Secrets instead" in leaked.text
    unnamed = await admin_page.post(
        f"/admin/channels/{things.channel_id}", data={"name": "", "setting_key": [], "setting_value": []}
    )
    assert unnamed.status_code == 422 and 'id="err-name"' in unnamed.text
    assert await snapshot(runtime) == before


# Templates


async def test_create_edit_and_delete_a_shared_template(
    admin_page: PageSession, runtime: Runtime, things: Things
) -> None:
    r = await admin_page.post(
        "/admin/templates",
        data={
            "title": "Refund done",
            "shortcut": "/refund",
            "language": "ru",
            "tags": "Refunds, money",
            "body": "{{customer.first_name|Клиент}}, деньги вернули по заказу {{order.number}}.",
        },
    )
    assert r.status_code == 303
    async with runtime.db.uow() as uow:
        canned = (
            await uow.session.scalars(select(CannedResponse).where(CannedResponse.title == "Refund done"))
        ).one()
    assert (canned.owner_id, canned.shortcut, canned.tags, canned.language) == (
        None,
        "refund",
        ["money", "refunds"],
        "ru",
    )
    page = await admin_page.get(f"/admin/templates/{canned.id}")
    assert "Ирина, деньги вернули по заказу A-10025." in page.text

    r = await admin_page.post(
        f"/admin/templates/{canned.id}",
        data={
            "title": "Refund sent",
            "shortcut": "",
            "language": "any",
            "tags": "",
            "body": "Done, {{agent.name}}.",
        },
    )
    assert r.status_code == 303
    edited = await load(runtime, CannedResponse, canned.id)
    assert (edited.title, edited.shortcut, edited.tags, edited.body) == (
        "Refund sent",
        None,
        [],
        "Done, {{agent.name}}.",
    )

    r = await admin_page.post(f"/admin/templates/{canned.id}/delete")
    assert r.status_code == 303
    assert await load(runtime, CannedResponse, canned.id) is None


async def test_the_template_preview_fills_variables_and_flags_unknown_ones(
    admin_page: PageSession, runtime: Runtime, desk: Desk
) -> None:
    await english(runtime, desk.admin)
    r = await admin_page.post(
        "/admin/templates/preview",
        data={"body": "Hi {{customer.first_name}}, <b>{{agent.name}}</b> here {{oops.name}}"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200
    assert 'id="tpl-preview"' in r.text and "<html" not in r.text
    assert "Hi Irina, &lt;b&gt;Anna&lt;/b&gt; here {{oops.name}}" in r.text
    assert "Unknown variables:" in r.text


async def test_an_unknown_variable_or_a_taken_shortcut_is_refused(
    admin_page: PageSession, runtime: Runtime, desk: Desk, things: Things
) -> None:
    await english(runtime, desk.admin)
    async with runtime.db.uow() as uow:
        await canned_service.create(
            uow, principal_of(desk.admin), CannedCreate(title="Hello", body="Hi", shortcut="hi", shared=True)
        )
    before = await snapshot(runtime)
    r = await admin_page.post("/admin/templates", data={"title": "Typo", "body": "Hi {{custmer.name}}"})
    assert r.status_code == 422
    assert 'id="err-body"' in r.text and "{{custmer.name}}" in r.text
    taken = await admin_page.post(
        f"/admin/templates/{things.canned_id}",
        data={"title": "Delivery times", "shortcut": "hi", "body": "Hello"},
    )
    assert taken.status_code == 409 and "Another shared template already uses this shortcut." in taken.text
    assert await snapshot(runtime) == before


# Failed work


async def test_retry_a_dead_job(
    admin_page: PageSession, runtime: Runtime, desk: Desk, things: Things
) -> None:
    await english(runtime, desk.admin)
    r = await admin_page.post(f"/admin/jobs/{things.job_id}/retry")
    assert r.status_code == 303 and r.headers["location"] == f"/admin/jobs/{things.job_id}?done=retried"
    job = await load(runtime, Job, things.job_id)
    assert (job.state, job.attempts) == ("queued", 0)
    page = await admin_page.get(r.headers["location"])
    assert "Queued again." in page.text
    before = await snapshot(runtime)
    again = await admin_page.post(f"/admin/jobs/{things.job_id}/retry")
    assert again.status_code == 409 and "Only a failed job can be retried" in again.text
    assert await snapshot(runtime) == before
    assert (await admin_page.post("/admin/jobs/999999/retry")).status_code == 404


async def test_retry_a_quarantined_payload(
    admin_page: PageSession, runtime: Runtime, desk: Desk, things: Things
) -> None:
    await english(runtime, desk.admin)
    r = await admin_page.post(f"/admin/inbound/{things.payload_id}/retry")
    assert r.status_code == 303
    row = await load(runtime, InboundPayload, things.payload_id)
    assert (row.state, row.error) == ("received", None)
    async with runtime.db.uow() as uow:
        queued = (await uow.session.scalars(select(Job).where(Job.task != "messages.deliver"))).all()
    assert [(j.state, j.payload) for j in queued] == [("queued", {"payload_id": things.payload_id})]
    listed = await admin_page.get("/admin/inbound")
    assert f'data-payload-id="{things.payload_id}"' not in listed.text
    again = await admin_page.post(f"/admin/inbound/{things.payload_id}/retry")
    assert again.status_code == 422 and "Only a quarantined message can be retried." in again.text


# Languages


async def test_russian_by_default_and_english_when_chosen(
    admin_page: PageSession, runtime: Runtime, desk: Desk, things: Things
) -> None:
    ru = await admin_page.get("/admin/agents")
    assert "Агенты" in ru.text and "Добавить агента" in ru.text
    jobs = await admin_page.get("/admin/jobs")
    assert "Последняя ошибка" in jobs.text
    home = await admin_page.get("/admin")
    assert "1</span> сбойная задача<" in home.text and "2</span> команды<" in home.text
    await english(runtime, desk.admin)
    en = await admin_page.get("/admin/agents")
    assert "Add an agent" in en.text and "Агенты" not in en.text
