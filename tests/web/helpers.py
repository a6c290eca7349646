from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from opora.runtime import Runtime


async def make_ticket(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    subject: str = "Где мой заказ?",
    email: str = "ivan@example.com",
    text: str = "Здравствуйте, заказ 1234 не пришёл",
    **fields: Any,
) -> dict[str, Any]:
    body = {
        "subject": subject,
        "customer": {"identity": {"kind": "email", "value": email}, "name": "Иван Петров"},
        "message": {"text": text, "author": "customer"},
        **fields,
    }
    r = await client.post("/api/v1/tickets", json=body, headers=headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


@contextmanager
def count_queries(runtime: Runtime) -> Iterator[list[str]]:
    statements: list[str] = []

    def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", _count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", _count)
