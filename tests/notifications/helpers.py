"""Tickets and notes through the API, the way agents make them."""

from __future__ import annotations

from typing import Any

import httpx


async def new_ticket(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> int:
    body: dict[str, Any] = {
        "subject": "Где мой заказ 10452?",
        "customer": {"identity": {"kind": "email", "value": "irina@mail.example"}, "name": "Ирина"},
        "message": {"text": "Заказ не приходит.", "author": "customer"},
    }
    body.update(fields)
    r = await client.post("/api/v1/tickets", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def note(
    client: httpx.AsyncClient, headers: dict[str, str], ticket_id: int, text: str, *, internal: bool = True
) -> int:
    r = await client.post(
        f"/api/v1/tickets/{ticket_id}/messages", json={"text": text, "internal": internal}, headers=headers
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def notifications(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/notifications", params=params, headers=headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items
