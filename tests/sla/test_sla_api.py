"""Admin API of SLA calendars, policies and settings: CRUD, refusals that change nothing, roles."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from opora.runtime import Runtime
from tests.support.factories import Desk
from tests.support.snapshot import snapshot

WEEKDAYS_9_18 = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def error_fields(r: httpx.Response) -> list[str]:
    error = r.json()["error"]
    return [error["field"]] if "field" in error else [f["field"] for f in error.get("fields", [])]


def calendar_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Москва",
        "timezone": "Europe/Moscow",
        "weekly_hours": WEEKDAYS_9_18,
        "holiday_country": "RU",
        "overrides": [
            {"date": "2024-11-02", "hours": [["09:00", "17:00"]], "note": "перенесённый рабочий день"},
            {"date": "2024-11-05", "hours": [], "note": "инвентаризация"},
        ],
    }
    body.update(overrides)
    return body


def policy_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "VIP",
        "position": 1,
        "conditions": {"segments": ["vip"], "priorities": ["high", "urgent"]},
        "targets": {
            "first_response": {"minutes": 30},
            "resolution": {"minutes": 480, "business": False},
        },
        "warning_percent": 75,
    }
    body.update(overrides)
    return body


async def test_calendar_crud_with_overrides(client: httpx.AsyncClient, desk: Desk) -> None:
    r = await client.post("/api/v1/sla/calendars", json=calendar_body(), headers=desk.admin_h)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["overrides"] == [
        {"date": "2024-11-02", "hours": [["09:00", "17:00"]], "note": "перенесённый рабочий день"},
        {"date": "2024-11-05", "hours": [], "note": "инвентаризация"},
    ]
    assert made["weekly_hours"]["mon"] == [["09:00", "18:00"]] and made["holiday_country"] == "RU"
    listed = (await client.get("/api/v1/sla/calendars", headers=desk.olga_h)).json()
    assert [c["id"] for c in listed] == [made["id"]]
    r = await client.patch(
        f"/api/v1/sla/calendars/{made['id']}",
        json={"timezone": "Europe/Berlin", "holiday_country": "de", "overrides": []},
        headers=desk.admin_h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["timezone"] == "Europe/Berlin" and r.json()["holiday_country"] == "DE"
    assert r.json()["overrides"] == [] and r.json()["weekly_hours"] == made["weekly_hours"]
    got = await client.get(f"/api/v1/sla/calendars/{made['id']}", headers=desk.admin_h)
    assert got.json()["timezone"] == "Europe/Berlin"
    missing = await client.get("/api/v1/sla/calendars/999999", headers=desk.admin_h)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (calendar_body(timezone="Mars/Olympus"), "timezone"),
        (calendar_body(weekly_hours={"mon": [["09:00", "25:00"]]}), "weekly_hours"),
        (calendar_body(weekly_hours={"mon": [["09:00", "13:00"], ["12:00", "18:00"]]}), "weekly_hours"),
        (calendar_body(weekly_hours={"funday": [["09:00", "18:00"]]}), "weekly_hours"),
        (calendar_body(holiday_country="XX"), "holiday_country"),
        (calendar_body(overrides=[{"date": "2025-01-10", "hours": [["18:00", "09:00"]]}]), "overrides"),
        (calendar_body(overrides=[{"date": "2025-01-10"}, {"date": "2025-01-10"}]), "overrides"),
        (calendar_body(color="red"), None),
    ],
)
async def test_bad_calendar_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, body: dict[str, Any], field: str | None
) -> None:
    before = await snapshot(runtime)
    r = await client.post("/api/v1/sla/calendars", json=body, headers=desk.admin_h)
    assert r.status_code == 422, r.text
    if field is not None:
        assert any(f.startswith(field) for f in error_fields(r)), r.text
    assert await snapshot(runtime) == before


async def test_bad_calendar_update_changes_nothing(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    made = (await client.post("/api/v1/sla/calendars", json=calendar_body(), headers=desk.admin_h)).json()
    before = await snapshot(runtime)
    r = await client.patch(
        f"/api/v1/sla/calendars/{made['id']}",
        json={"name": "Другой", "weekly_hours": {"mon": [["10:00", "09:00"]]}},
        headers=desk.admin_h,
    )
    assert r.status_code == 422
    assert await snapshot(runtime) == before
    dup = await client.post("/api/v1/sla/calendars", json=calendar_body(overrides=[]), headers=desk.admin_h)
    assert dup.status_code == 409 and dup.json()["error"]["field"] == "name"


async def test_policy_crud(client: httpx.AsyncClient, desk: Desk) -> None:
    calendar = (await client.post("/api/v1/sla/calendars", json=calendar_body(), headers=desk.admin_h)).json()
    default = (
        await client.post(
            "/api/v1/sla/policies",
            json={"name": "Default", "position": 10, "targets": {"first_response": {"minutes": 240}}},
            headers=desk.admin_h,
        )
    ).json()
    r = await client.post(
        "/api/v1/sla/policies",
        json=policy_body(
            targets={
                "first_response": {"minutes": 30, "calendar_id": calendar["id"]},
                "next_response": {"minutes": 60},
            }
        ),
        headers=desk.admin_h,
    )
    assert r.status_code == 201, r.text
    vip = r.json()
    assert vip["targets"]["first_response"] == {
        "minutes": 30,
        "business": True,
        "calendar_id": calendar["id"],
    }
    assert vip["targets"]["resolution"] is None and vip["warning_percent"] == 75
    assert vip["conditions"] == {
        "channel_types": [],
        "priorities": ["high", "urgent"],
        "segments": ["vip"],
        "team_ids": [],
    }
    assert default["warning_percent"] == 80 and default["conditions"]["team_ids"] == []
    listed = (await client.get("/api/v1/sla/policies", headers=desk.olga_h)).json()
    assert [p["name"] for p in listed] == ["VIP", "Default"]
    r = await client.patch(
        f"/api/v1/sla/policies/{default['id']}",
        json={"position": 0, "conditions": {"team_ids": [desk.support.id]}},
        headers=desk.admin_h,
    )
    assert r.status_code == 200 and r.json()["conditions"]["team_ids"] == [desk.support.id]
    listed = (await client.get("/api/v1/sla/policies", headers=desk.admin_h)).json()
    assert [p["name"] for p in listed] == ["Default", "VIP"]
    assert (await client.delete(f"/api/v1/sla/policies/{vip['id']}", headers=desk.admin_h)).status_code == 204
    assert (await client.get(f"/api/v1/sla/policies/{vip['id']}", headers=desk.admin_h)).status_code == 404
    dup = await client.post("/api/v1/sla/policies", json=policy_body(name="Default"), headers=desk.admin_h)
    assert dup.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        policy_body(targets={}),
        policy_body(targets={"first_response": {"minutes": 0}}),
        policy_body(targets={"first_response": {"minutes": 10, "calendar_id": 999999}}),
        policy_body(conditions={"team_ids": [999999]}),
        policy_body(conditions={"priorities": ["whenever"]}),
        policy_body(warning_percent=0),
        policy_body(targets={"first_reply": {"minutes": 10}}),
        policy_body(name=""),
    ],
)
async def test_bad_policy_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, body: dict[str, Any]
) -> None:
    before = await snapshot(runtime)
    r = await client.post("/api/v1/sla/policies", json=body, headers=desk.admin_h)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] in ("invalid", "validation_error")
    assert await snapshot(runtime) == before


async def test_bad_policy_update_changes_nothing(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    made = (await client.post("/api/v1/sla/policies", json=policy_body(), headers=desk.admin_h)).json()
    before = await snapshot(runtime)
    bodies: list[dict[str, Any]] = [{"targets": {}}, {"name": None}, {"conditions": {"team_ids": [424242]}}]
    for body in bodies:
        r = await client.patch(f"/api/v1/sla/policies/{made['id']}", json=body, headers=desk.admin_h)
        assert r.status_code == 422, (body, r.text)
    assert await snapshot(runtime) == before


async def test_only_admins_write(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    made = (await client.post("/api/v1/sla/policies", json=policy_body(), headers=desk.admin_h)).json()
    cal = (await client.post("/api/v1/sla/calendars", json=calendar_body(), headers=desk.admin_h)).json()
    before = await snapshot(runtime)
    for headers in (desk.supervisor_h, desk.olga_h, desk.reader_h):
        calls = [
            client.post("/api/v1/sla/policies", json=policy_body(name="X"), headers=headers),
            client.patch(f"/api/v1/sla/policies/{made['id']}", json={"position": 3}, headers=headers),
            client.delete(f"/api/v1/sla/policies/{made['id']}", headers=headers),
            client.post("/api/v1/sla/calendars", json=calendar_body(name="Y"), headers=headers),
            client.patch(f"/api/v1/sla/calendars/{cal['id']}", json={"name": "Z"}, headers=headers),
            client.patch("/api/v1/sla/settings", json={"autoack_enabled": True}, headers=headers),
            client.get("/api/v1/sla/settings", headers=headers),
        ]
        for call in calls:
            r = await call
            assert r.status_code == 403, r.text
    assert await snapshot(runtime) == before
    assert (await client.get("/api/v1/sla/policies")).status_code == 401


async def test_settings_defaults_and_templates(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    got = (await client.get("/api/v1/sla/settings", headers=desk.admin_h)).json()
    assert got["autoack_enabled"] is False and "{{sla.expected_reply}}" in got["autoack_templates"]["ru"]
    r = await client.patch(
        "/api/v1/sla/settings",
        json={
            "autoack_enabled": True,
            "autoack_templates": {"en": "Hi {{customer.first_name}}, {{sla.expected_reply}}!"},
        },
        headers=desk.admin_h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["autoack_enabled"] is True
    assert r.json()["autoack_templates"]["en"] == "Hi {{customer.first_name}}, {{sla.expected_reply}}!"
    assert "{{sla.expected_reply}}" in r.json()["autoack_templates"]["ru"]
    before = await snapshot(runtime)
    bad = await client.patch(
        "/api/v1/sla/settings", json={"out_of_hours_templates": {"ru": "{{sla.when}}"}}, headers=desk.admin_h
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "out_of_hours_templates.ru"
    bad = await client.patch(
        "/api/v1/sla/settings", json={"default_calendar_id": 999999}, headers=desk.admin_h
    )
    assert bad.status_code == 404 or bad.status_code == 422
    assert await snapshot(runtime) == before
