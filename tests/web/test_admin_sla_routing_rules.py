"""Admin screens for calendars, SLA, routing and automation, through a logged-in browser session."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from opora.agents.models import Agent, Calendar
from opora.automation.models import Rule, Webhook
from opora.routing.models import AgentRouting, TeamRouting
from opora.runtime import Runtime
from opora.sla.models import CalendarOverride, SlaPolicy, SlaSettings
from tests.support.factories import Desk
from tests.support.snapshot import snapshot
from tests.web.conftest import PageSession
from tests.web.helpers import make_ticket


async def english(runtime: Runtime, agent: Agent) -> None:
    async with runtime.db.uow() as uow:
        row = await uow.session.get(Agent, agent.id)
        assert row is not None
        row.language = "en"


async def one(runtime: Runtime, model: Any, *where: Any) -> Any:
    async with runtime.db.uow() as uow:
        return (await uow.session.scalars(select(model).where(*where))).one()


def hours(day: str, *spans: tuple[str, str]) -> dict[str, list[str]]:
    return {f"{day}_open": [s[0] for s in spans], f"{day}_close": [s[1] for s in spans]}


CALENDAR_FORM: dict[str, Any] = {
    "name": "Moscow office",
    "timezone": "Europe/Moscow",
    "holiday_country": "ru",
    **hours("mon", ("09:00", "13:00"), ("14:00", "18:00")),
    **hours("sat", ("10:00", "16:00"), ("", "")),
    "ov_count": "1",
    "ov0_date": "2024-11-02",
    "ov0_kind": "open",
    "ov0_open": "09:00",
    "ov0_close": "18:00",
    "ov0_note": "transferred working Saturday",
}


@pytest.fixture
async def calendar_id(admin_page: PageSession, runtime: Runtime) -> int:
    r = await admin_page.post("/admin/calendars", data=CALENDAR_FORM)
    assert r.status_code == 303, r.text
    row = await one(runtime, Calendar, Calendar.name == "Moscow office")
    assert r.headers["location"] == f"/admin/calendars/{row.id}?done=created"
    return int(row.id)


@pytest.fixture
async def rule_id(admin_page: PageSession, runtime: Runtime, desk: Desk) -> int:
    return await create_rule(admin_page, runtime, desk)


async def create_rule(admin_page: PageSession, runtime: Runtime, desk: Desk) -> int:
    r = await admin_page.post(
        "/admin/rules",
        data={
            "name": "Refunds go to Billing",
            "is_active": "1",
            "events": ["ticket_created", "message_added"],
            "c_count": "2",
            "c0_group": "any",
            "c0_field": "message.text",
            "c0_op": "contains",
            "c0_value": "refund, вернуть деньги",
            "c1_field": "",
            "a_count": "2",
            "a0_type": "set_team",
            "a0_team_id": str(desk.billing.id),
            "a1_type": "add_tags",
            "a1_tags": "refund, money",
        },
    )
    assert r.status_code == 303, r.text
    return int((await one(runtime, Rule, Rule.name == "Refunds go to Billing")).id)


# Every screen renders for an admin and is refused to an agent


async def test_every_screen_renders_for_an_admin_and_is_refused_to_agents(  # type: ignore[no-untyped-def]
    admin_page: PageSession, login, runtime: Runtime, desk: Desk, calendar_id: int, rule_id: int
) -> None:
    async with runtime.db.uow() as uow:
        policy = SlaPolicy(name="Everything", conditions={}, targets={"first_response": {"minutes": 60}})
        webhook = Webhook(
            name="CRM",
            url="https://crm.example/hook",
            secret_encrypted=runtime.secrets.seal({"secret": "s" * 32}),
        )
        uow.session.add_all([policy, webhook])
    urls = {
        "/admin/calendars": "Moscow office",
        "/admin/calendars/new": 'name="mon_open"',
        f"/admin/calendars/{calendar_id}": "transferred working Saturday",
        "/admin/sla-policies": "Everything",
        "/admin/sla-policies/new": 'name="first_response_minutes"',
        f"/admin/sla-policies/{policy.id}": 'value="Everything"',
        "/admin/sla-settings": "{{sla.expected_reply}}",
        "/admin/routing": "Support",
        f"/admin/routing/teams/{desk.support.id}": 'name="policy"',
        f"/admin/routing/agents/{desk.olga.id}": 'name="default_capacity"',
        "/admin/routing/queue": "routing",
        "/admin/rules": "Refunds go to Billing",
        "/admin/rules/new": 'name="c0_field"',
        f"/admin/rules/{rule_id}": 'value="refund, вернуть деньги"',
        f"/admin/rules/{rule_id}/runs": "Refunds go to Billing",
        "/admin/webhooks": "CRM",
        f"/admin/webhooks/{webhook.id}": "https://crm.example/hook",
    }
    for url, needle in urls.items():
        r = await admin_page.get(url)
        assert r.status_code == 200, (url, r.text[:500])
        assert 'class="admin-nav' in r.text and needle in r.text, url
    for agent in (desk.olga, desk.reader):
        session: PageSession = await login(agent)
        for url in urls:
            r = await session.get(url, headers={"Accept": "text/html"})
            assert r.status_code == 403, (agent.name, url)


async def test_a_supervisor_may_watch_the_queues_but_not_change_settings(  # type: ignore[no-untyped-def]
    login, client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    ticket = await make_ticket(client, desk.admin_h, team_id=desk.support.id)
    supervisor: PageSession = await login(desk.supervisor)
    r = await supervisor.get("/admin/routing/queue")
    assert r.status_code == 200
    assert f'data-ticket-id="{ticket["id"]}"' in r.text
    assert 'href="/admin/agents"' not in r.text  # no links to screens that would refuse them
    for url in ("/admin/routing", f"/admin/routing/teams/{desk.support.id}", "/admin/rules"):
        assert (await supervisor.get(url)).status_code == 403, url
    before = await snapshot(runtime)
    r = await supervisor.post(f"/admin/routing/teams/{desk.support.id}", data={"policy": "round_robin"})
    assert r.status_code == 403
    assert await snapshot(runtime) == before


# Round trips


async def test_create_and_edit_a_calendar_with_overrides(
    admin_page: PageSession, runtime: Runtime, calendar_id: int
) -> None:
    row = await one(runtime, Calendar, Calendar.id == calendar_id)
    assert (row.timezone, row.holiday_country) == ("Europe/Moscow", "RU")
    assert row.weekly_hours == {"mon": [["09:00", "13:00"], ["14:00", "18:00"]], "sat": [["10:00", "16:00"]]}
    override = await one(runtime, CalendarOverride, CalendarOverride.calendar_id == calendar_id)
    assert (override.day, override.hours) == (date(2024, 11, 2), [["09:00", "18:00"]])

    # Edit: Friday hours, the Saturday override removed, the shop's own day off added.
    r = await admin_page.post(
        f"/admin/calendars/{calendar_id}",
        data={
            **{k: v for k, v in CALENDAR_FORM.items() if not k.startswith("ov")},
            **hours("fri", ("10:00", "17:00")),
            "holiday_country": "",
            "ov_count": "2",
            "ov0_date": "2024-11-02",
            "ov0_kind": "open",
            "ov0_open": "09:00",
            "ov0_close": "18:00",
            "ov0_remove": "1",
            "ov1_date": "2024-12-31",
            "ov1_kind": "closed",
            "ov1_note": "stocktaking",
        },
    )
    assert r.status_code == 303, r.text
    row = await one(runtime, Calendar, Calendar.id == calendar_id)
    assert row.holiday_country is None
    assert row.weekly_hours["fri"] == [["10:00", "17:00"]]
    override = await one(runtime, CalendarOverride, CalendarOverride.calendar_id == calendar_id)
    assert (override.day, override.hours, override.note) == (date(2024, 12, 31), [], "stocktaking")
    page = await admin_page.get(f"/admin/calendars/{calendar_id}")
    assert 'value="2024-12-31"' in page.text and "2024-11-02" not in page.text


async def test_create_edit_reorder_and_delete_sla_policies(
    admin_page: PageSession, runtime: Runtime, desk: Desk, calendar_id: int
) -> None:
    base = {
        "is_active": "1",
        "warning_percent": "80",
        "first_response_minutes": "60",
        "first_response_business": "1",
    }
    r = await admin_page.post("/admin/sla-policies", data={**base, "name": "Default"})
    assert r.status_code == 303, r.text
    r = await admin_page.post(
        "/admin/sla-policies",
        data={
            **base,
            "name": "VIP email",
            "channel_types": ["email"],
            "priorities": ["high", "urgent"],
            "segments": "vip, wholesale",
            "team_ids": [str(desk.support.id)],
            "first_response_calendar": str(calendar_id),
            "resolution_minutes": "1440",
        },
    )
    assert r.status_code == 303, r.text
    vip = await one(runtime, SlaPolicy, SlaPolicy.name == "VIP email")
    assert vip.conditions == {
        "channel_types": ["email"],
        "priorities": ["high", "urgent"],
        "segments": ["vip", "wholesale"],
        "team_ids": [desk.support.id],
    }
    assert vip.targets == {
        "first_response": {"minutes": 60, "business": True, "calendar_id": calendar_id},
        "resolution": {"minutes": 1440, "business": False, "calendar_id": None},
    }
    listed = await admin_page.get("/admin/sla-policies")
    assert listed.text.index("Default") < listed.text.index("VIP email")  # a new policy goes last

    r = await admin_page.post(f"/admin/sla-policies/{vip.id}/move", data={"direction": "up"})
    assert r.status_code == 303
    listed = await admin_page.get("/admin/sla-policies")
    assert listed.text.index("VIP email") < listed.text.index("Default")

    r = await admin_page.post(
        f"/admin/sla-policies/{vip.id}",
        data={"name": "VIP", "warning_percent": "90", "next_response_minutes": "30"},
    )
    assert r.status_code == 303, r.text
    vip = await one(runtime, SlaPolicy, SlaPolicy.id == vip.id)
    assert (vip.name, vip.is_active, vip.warning_percent) == ("VIP", False, 90)
    assert vip.targets == {"next_response": {"minutes": 30, "business": False, "calendar_id": None}}
    r = await admin_page.post(f"/admin/sla-policies/{vip.id}/delete")
    assert r.status_code == 303
    async with runtime.db.uow() as uow:
        assert [p.name for p in await uow.session.scalars(select(SlaPolicy))] == ["Default"]


async def test_sla_settings_with_templates_and_a_preview(
    admin_page: PageSession, runtime: Runtime, calendar_id: int
) -> None:
    r = await admin_page.post(
        "/admin/sla-settings",
        data={
            "autoack_enabled": "1",
            "default_calendar_id": str(calendar_id),
            "autoack_templates.ru": "Спасибо! Ответим {{sla.expected_reply}}.",
            "autoack_templates.en": "Thanks! We answer {{sla.expected_reply}}.",
        },
    )
    assert r.status_code == 303, r.text
    row = await one(runtime, SlaSettings)
    assert (row.autoack_enabled, row.default_calendar_id) == (True, calendar_id)
    assert row.autoack_templates == {
        "ru": "Спасибо! Ответим {{sla.expected_reply}}.",
        "en": "Thanks! We answer {{sla.expected_reply}}.",
    }
    page = await admin_page.get("/admin/sla-settings")
    assert "Спасибо! Ответим в течение 2 часов." in page.text
    assert "Thanks! We answer within 2 hours." in page.text
    preview = await admin_page.post(
        "/admin/sla-settings/preview",
        data={"key": "autoack_templates.en", "autoack_templates.en": "Hi {{customer.first_name}}"},
    )
    assert preview.status_code == 200 and "Hi Irina" in preview.text


async def test_team_routing_and_agent_capacity_round_trip(
    admin_page: PageSession, runtime: Runtime, desk: Desk
) -> None:
    r = await admin_page.post(
        f"/admin/routing/teams/{desk.support.id}",
        data={
            "policy": "least_loaded",
            "line": "first",
            "escalation_team_id": str(desk.billing.id),
            "skill_fallback_seconds": "300",
            "weight_channels": ["webchat", "email"],
            "weight_webchat": "3",
            "weight_email": "",
        },
    )
    assert r.status_code == 303, r.text
    team = await one(runtime, TeamRouting, TeamRouting.team_id == desk.support.id)
    assert (team.policy, team.line, team.escalation_team_id, team.skill_fallback_seconds) == (
        "least_loaded",
        "first",
        desk.billing.id,
        300,
    )
    assert team.channel_weights == {"webchat": 3.0}
    page = await admin_page.get(f"/admin/routing/teams/{desk.support.id}")
    assert 'value="3.0"' in page.text

    r = await admin_page.post(
        f"/admin/routing/agents/{desk.olga.id}",
        data={
            "capacity_channels": ["webchat", "email"],
            "capacity_webchat": "5",
            "capacity_email": "20",
            "default_capacity": "8",
            "topics": "Delivery, returns",
            "languages": "ru, EN",
            "skill_channels": ["email"],
            "vip": "1",
        },
    )
    assert r.status_code == 303, r.text
    agent = await one(runtime, AgentRouting, AgentRouting.agent_id == desk.olga.id)
    assert (agent.capacity, agent.default_capacity) == ({"webchat": 5, "email": 20}, 8)
    assert agent.skills == {
        "topics": ["delivery", "returns"],
        "languages": ["en", "ru"],
        "channels": ["email"],
        "vip": True,
    }
    overview = await admin_page.get("/admin/routing")
    assert "delivery, returns" in overview.text


async def test_create_and_edit_a_rule(
    admin_page: PageSession, runtime: Runtime, desk: Desk, rule_id: int
) -> None:
    rule = await one(runtime, Rule, Rule.id == rule_id)
    assert rule.events == ["ticket_created", "message_added"]
    assert rule.conditions == {
        "all": [],
        "any": [{"field": "message.text", "op": "contains", "value": ["refund", "вернуть деньги"]}],
    }
    assert rule.actions == [
        {"type": "set_team", "team_id": desk.billing.id},
        {"type": "add_tags", "tags": ["refund", "money"]},
    ]
    r = await admin_page.post(
        f"/admin/rules/{rule_id}",
        data={
            "name": "Refunds",
            "events": ["message_added"],
            "c_count": "2",
            "c0_group": "all",
            "c0_field": "priority",
            "c0_op": "at_least",
            "c0_value": "high",
            "c1_group": "all",
            "c1_field": "team_id",
            "c1_op": "in",
            "c1_value": f"{desk.support.id}, {desk.billing.id}",
            "a_count": "1",
            "a0_type": "send_reply",
            "a0_text_ru": "Здравствуйте, {{customer.first_name|клиент}}!",
        },
    )
    assert r.status_code == 303, r.text
    rule = await one(runtime, Rule, Rule.id == rule_id)
    assert (rule.name, rule.is_active, rule.events) == ("Refunds", False, ["message_added"])
    assert rule.conditions["all"][1] == {
        "field": "team_id",
        "op": "in",
        "value": [desk.support.id, desk.billing.id],
    }
    assert rule.actions == [
        {"type": "send_reply", "text": {"ru": "Здравствуйте, {{customer.first_name|клиент}}!", "en": None}}
    ]
    r = await admin_page.post(f"/admin/rules/{rule_id}/toggle")
    assert r.status_code == 303
    assert (await one(runtime, Rule, Rule.id == rule_id)).is_active is True
    row = await admin_page.get("/admin/rules/rows/a/3?a3_type=notify_agents")
    assert row.status_code == 200 and 'name="a3_agent_ids"' in row.text and 'name="a3_text_ru"' in row.text
    row = await admin_page.get("/admin/rules/rows/c/4?c4_field=tags&c4_group=any")
    assert 'value="includes_any"' in row.text and 'value="is"' not in row.text


async def test_a_webhook_round_trip_shows_the_secret_once(admin_page: PageSession, runtime: Runtime) -> None:
    r = await admin_page.post("/admin/webhooks", data={"name": "CRM", "url": "https://crm.example/hook"})
    assert r.status_code == 200, r.text
    assert "data-secret-once" in r.text
    webhook = await one(runtime, Webhook, Webhook.name == "CRM")
    secret = runtime.secrets.open(webhook.secret_encrypted)["secret"]
    assert secret in r.text
    page = await admin_page.get(f"/admin/webhooks/{webhook.id}")
    assert secret not in page.text and secret[-4:] in page.text
    r = await admin_page.post(
        f"/admin/webhooks/{webhook.id}", data={"name": "CRM 2", "url": "https://crm.example/v2"}
    )
    assert r.status_code == 303
    edited = await one(runtime, Webhook, Webhook.id == webhook.id)
    assert (edited.name, edited.url, edited.is_active) == ("CRM 2", "https://crm.example/v2", False)
    r = await admin_page.post(f"/admin/webhooks/{webhook.id}/ping")
    assert r.status_code == 303
    log = await admin_page.get(r.headers["location"])
    assert "data-delivery-id" in log.text
    r = await admin_page.post("/admin/outbound-allow", data={"network": "10.0.0.0/8", "note": "intranet"})
    assert r.status_code == 303
    assert "10.0.0.0/8" in (await admin_page.get("/admin/webhooks")).text


# Refusals change nothing


async def test_invalid_forms_show_the_error_beside_the_field_and_change_nothing(
    admin_page: PageSession, runtime: Runtime, desk: Desk, calendar_id: int, rule_id: int
) -> None:
    await english(runtime, desk.admin)
    before = await snapshot(runtime)
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        (
            f"/admin/calendars/{calendar_id}",
            {**CALENDAR_FORM, **hours("tue", ("18:00", "09:00"))},
            "hours_tue",
            "Times are HH:MM",
        ),
        (
            "/admin/calendars",
            {**CALENDAR_FORM, "name": "Other", "timezone": "Mars/Olympus"},
            "timezone",
            "Choose a time zone",
        ),
        (
            f"/admin/calendars/{calendar_id}",
            {**CALENDAR_FORM, "ov_count": "2", "ov1_date": "2024-11-02", "ov1_kind": "closed"},
            "overrides",
            "only one override",
        ),
        (
            "/admin/sla-policies",
            {"name": "No targets", "warning_percent": "80"},
            "targets",
            "Give at least one target",
        ),
        (
            "/admin/sla-settings",
            {"autoack_templates.ru": "{{nope}}"},
            "autoack_templates",
            "Use only the listed variables",
        ),
        (
            f"/admin/routing/teams/{desk.support.id}",
            {
                "policy": "manual",
                "line": "first",
                "escalation_team_id": str(desk.support.id),
                "skill_fallback_seconds": "1",
            },
            "escalation_team_id",
            "Choose another team",
        ),
        (
            f"/admin/routing/agents/{desk.olga.id}",
            {"default_capacity": "5000"},
            "default_capacity",
            "A capacity is a whole number",
        ),
        (
            f"/admin/rules/{rule_id}",
            {
                "name": "X",
                "events": ["message_added"],
                "c_count": "1",
                "c0_field": "priority",
                "c0_op": "contains",
                "c0_value": "x",
                "a_count": "1",
                "a0_type": "add_tags",
                "a0_tags": "a",
            },
            "c0",
            "Choose an operator this field allows.",
        ),
        (
            "/admin/webhooks",
            {"name": "Bad", "url": "ftp://example.com/x"},
            "url",
            "Enter an address starting with http",
        ),
    ]
    for url, data, field, message in cases:
        r = await admin_page.post(url, data=data)
        assert r.status_code in (409, 422), (url, r.status_code)
        assert f'id="err-{field}"' in r.text and message in r.text, (url, field)
    assert await snapshot(runtime) == before


async def test_a_post_without_csrf_is_refused(
    admin_page: PageSession, runtime: Runtime, calendar_id: int, rule_id: int
) -> None:
    before = await snapshot(runtime)
    for url, data in [
        ("/admin/calendars", CALENDAR_FORM),
        ("/admin/sla-policies", {"name": "P", "first_response_minutes": "5", "warning_percent": "80"}),
        ("/admin/sla-settings", {"autoack_enabled": "1"}),
        (f"/admin/rules/{rule_id}/delete", {}),
        ("/admin/rules/dry-run", {"ticket_id": "1", "event_kind": "ticket_created"}),
        ("/admin/webhooks", {"name": "CRM", "url": "https://crm.example/hook"}),
        ("/admin/outbound-allow", {"network": "10.0.0.0/8"}),
    ]:
        r = await admin_page.post(url, data=data, csrf=False)
        assert r.status_code == 403, url
    assert await snapshot(runtime) == before


async def test_the_dry_run_shows_the_matching_rule_and_changes_nothing(
    admin_page: PageSession, client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    await english(runtime, desk.admin)
    # Tickets from before the rule: it has not acted on them, so the dry run predicts real changes.
    ticket = await make_ticket(client, desk.admin_h, text="I want a refund, please")
    quiet = await make_ticket(client, desk.admin_h, text="Where is my parcel?", email="other@example.com")
    rule_id = await create_rule(admin_page, runtime, desk)
    before = await snapshot(runtime)
    r = await admin_page.post(
        "/admin/rules/dry-run", data={"ticket_id": str(ticket["id"]), "event_kind": "message_added"}
    )
    assert r.status_code == 200
    assert f'data-dry-rule="{rule_id}"' in r.text and "would fire" in r.text
    assert "Route to team — would apply" in r.text and f"{desk.billing.id}" in r.text
    r = await admin_page.post(
        "/admin/rules/dry-run",
        data={"ticket_id": str(quiet["id"]), "event_kind": "message_added"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200 and "would not fire" in r.text and "<html" not in r.text
    missing = await admin_page.post(
        "/admin/rules/dry-run", data={"ticket_id": "999999", "event_kind": "message_added"}
    )
    assert missing.status_code == 404 and 'id="err-ticket_id"' in missing.text
    assert await snapshot(runtime) == before


# Languages


async def test_russian_by_default_and_english_for_an_english_admin(
    admin_page: PageSession, runtime: Runtime, desk: Desk
) -> None:
    russian = {
        "/admin/calendars/new": "Рабочие часы",
        "/admin/sla-policies/new": "Первый ответ",
        "/admin/routing": "Маршрутизация",
        "/admin/rules/new": "Новое правило",
        "/admin/webhooks": "Исходящие вебхуки",
    }
    english_texts = {
        "/admin/calendars/new": "Business hours",
        "/admin/sla-policies/new": "First response",
        "/admin/routing": "Routing",
        "/admin/rules/new": "New rule",
        "/admin/webhooks": "Outbound webhooks",
    }
    for url, needle in russian.items():
        assert needle in (await admin_page.get(url)).text, url
    await english(runtime, desk.admin)
    for url, needle in english_texts.items():
        text = (await admin_page.get(url)).text
        assert needle in text and russian[url] not in text, url
