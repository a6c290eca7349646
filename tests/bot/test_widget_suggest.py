"""Knowledge-base suggestions for the widget while the visitor types: links, origin-checked."""

from __future__ import annotations

import httpx

from opora.channels import service as channels_service
from opora.channels.schemas import ChannelCreate
from opora.runtime import Runtime
from tests.kb.conftest import make_article
from tests.support.factories import Desk

KEY = "suggest-chat-key"


async def test_suggestions_while_typing_are_portal_links(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    async with runtime.db.uow() as uow:
        await channels_service.create_channel(
            uow,
            runtime,
            ChannelCreate(
                type="webchat",
                name="Chat",
                settings={"public_key": KEY, "allowed_origins": ["https://shop.test"]},
            ),
        )
    public = await make_article(
        client, desk.admin_h, publish_h=desk.admin_h, title="Доставка по Москве", body_md="Курьер за 1 день."
    )
    await make_article(client, desk.admin_h, title="Доставка: черновик", body_md="Ещё не готово.")
    shop = {"Origin": "https://shop.test"}
    r = await client.get(
        "/widget/v1/suggest", params={"channel": KEY, "q": "доста", "language": "ru"}, headers=shop
    )
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == "*"
    url = f"{runtime.settings.public_url}/help/ru/articles/{public['slug']}"
    assert r.json() == {"articles": [{"title": "Доставка по Москве", "url": url}]}
    short = await client.get("/widget/v1/suggest", params={"channel": KEY, "q": "до"}, headers=shop)
    assert short.json() == {"articles": []}
    other = await client.get(
        "/widget/v1/suggest", params={"channel": KEY, "q": "доста"}, headers={"Origin": "https://evil.test"}
    )
    assert other.status_code == 403
    unknown = await client.get("/widget/v1/suggest", params={"channel": "nope-nope-nope", "q": "доста"})
    assert unknown.status_code == 404
