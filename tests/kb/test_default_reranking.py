"""The default desk re-ranks help-centre search with the real sentence encoder (ADR 41): the
article's vector is written by the job its publication queues, and a question that shares no
word with the article still finds it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from opora.config import Settings
from opora.jobs.worker import Worker
from opora.kb.search import semantic
from opora.runtime import Runtime
from tests.kb.conftest import PUBLIC, hit_ids, make_article
from tests.support.factories import Desk
from tests.support.settings import settings_for

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(database_url: str, redis_url: str | None, tmp_path: Path) -> Settings:
    tested = settings_for(tmp_path / "data", database_url, redis_url=redis_url)
    # What a desk gets when it sets nothing.
    default = Settings.model_fields["kb_search_reranking"].default
    assert default is True
    return tested.model_copy(update={"kb_search_reranking": default})


async def test_a_question_sharing_no_word_finds_its_article(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    assert semantic.ENABLED
    sup = desk.supervisor_h
    payment = await make_article(
        client,
        desk.olga_h,
        title="Способы оплаты",
        body_md="Принимаем банковские карты Visa, Mastercard и Мир, а также СБП. Наличными — курьеру.",
        publish_h=sup,
    )
    await make_article(
        client,
        desk.olga_h,
        title="Сроки доставки",
        body_md="Курьер привезёт заказ за 1–2 дня по Москве и до 7 дней по России.",
        publish_h=sup,
    )
    await make_article(
        client,
        desk.olga_h,
        title="Как вернуть товар",
        body_md="Вернуть покупку можно в течение 14 дней в любом пункте выдачи.",
        publish_h=sup,
    )
    question = {"q": "Apple Pay работает?"}
    # Before the vectors are written the full-text ranking alone answers, and it cannot see it.
    assert payment["id"] not in hit_ids(await client.get(f"{PUBLIC}/search", params=question))
    await Worker(runtime, concurrency=1, poll_seconds=0.05).run_until_idle()
    assert hit_ids(await client.get(f"{PUBLIC}/search", params=question))[0] == payment["id"]
