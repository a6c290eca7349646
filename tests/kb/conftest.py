"""A small knowledge base built through the API, as the admins of a shop would write it."""

from __future__ import annotations

from typing import Any

import httpx

KB = "/api/v1/kb"
PUBLIC = "/api/v1/kb/public"


async def make_article(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    publish_h: dict[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"language": "ru", "title": "Статья", "body_md": "Текст."}
    body.update(fields)
    r = await client.post(f"{KB}/articles", json=body, headers=headers)
    assert r.status_code == 201, r.text
    article: dict[str, Any] = r.json()
    if publish_h is not None:
        r = await client.post(
            f"{KB}/articles/{article['id']}/status", json={"status": "published"}, headers=publish_h
        )
        assert r.status_code == 200, r.text
        article = r.json()
    return article


def hit_ids(r: httpx.Response) -> list[int]:
    assert r.status_code == 200, r.text
    return [hit["id"] for hit in r.json()["hits"]]
