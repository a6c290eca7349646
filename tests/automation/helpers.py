"""Shared bits of the automation tests: rules and tickets through the API."""

from __future__ import annotations

from typing import Any

import httpx

RULES = "/api/v1/automation/rules"


def rule_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Refunds to Billing",
        "events": ["ticket_created"],
        "conditions": {"all": [{"field": "status", "op": "is", "value": "new"}]},
        "actions": [{"type": "add_tags", "tags": ["auto"]}],
    }
    body.update(overrides)
    return body


async def make_rule(client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    r = await client.post(RULES, json=rule_body(**overrides), headers=headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def ticket_body(
    team_id: int | None, text: str = "Здравствуйте! Где мой заказ?", **overrides: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": "Заказ 10452",
        "customer": {"identity": {"kind": "email", "value": "irina@mail.example"}, "name": "Ирина Петрова"},
        "message": {"text": text, "author": "customer"},
        "team_id": team_id,
    }
    body.update(overrides)
    return body


async def make_ticket(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    team_id: int | None,
    text: str = "Где мой заказ?",
    **overrides: Any,
) -> dict[str, Any]:
    r = await client.post("/api/v1/tickets", json=ticket_body(team_id, text, **overrides), headers=headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def events_of(
    client: httpx.AsyncClient, headers: dict[str, str], ticket_id: int
) -> list[dict[str, Any]]:
    r = await client.get(f"/api/v1/tickets/{ticket_id}/events", headers=headers, params={"limit": 200})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def get_ticket(client: httpx.AsyncClient, headers: dict[str, str], ticket_id: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/tickets/{ticket_id}", headers=headers)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data
