"""Solved tickets made the way a desk makes them: a customer writes, an agent replies and solves."""

from __future__ import annotations

from typing import Any

import httpx


async def open_ticket(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    team_id: int,
    text: str,
    subject: str = "",
    email: str = "ivan@mail.example",
    **extra: Any,
) -> int:
    body: dict[str, Any] = {
        "subject": subject,
        "customer": {"identity": {"kind": "email", "value": email}, "name": "Иван"},
        "message": {"text": text, "author": "customer"},
        "team_id": team_id,
        **extra,
    }
    r = await client.post("/api/v1/tickets", json=body, headers=headers)
    assert r.status_code == 201, r.text
    ticket_id: int = r.json()["id"]
    return ticket_id


async def reply(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    ticket_id: int,
    text: str,
    *,
    status: str | None = None,
) -> None:
    body: dict[str, Any] = {"text": text}
    if status:
        body["status"] = status
    r = await client.post(f"/api/v1/tickets/{ticket_id}/messages", json=body, headers=headers)
    assert r.status_code == 201, r.text


async def solved_ticket(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    team_id: int,
    text: str,
    answer: str,
    subject: str = "",
    email: str = "ivan@mail.example",
) -> int:
    ticket_id = await open_ticket(client, headers, team_id=team_id, text=text, subject=subject, email=email)
    await reply(client, headers, ticket_id, answer, status="solved")
    return ticket_id
