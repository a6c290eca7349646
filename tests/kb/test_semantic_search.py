"""Semantic re-ranking: article vectors written by a job, articles found without a shared word,
the scope still obeyed, nonsense still finding nothing; and PostgreSQL's IDF-weighted ranking.

The sentence encoder is replaced by a tiny "concept" encoder (a few hand-made topics), so that
which article is near a query is known in advance and no model is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np
import pytest
from numpy.typing import NDArray
from sqlalchemy import func, select

from opora.config import Settings
from opora.db import UnitOfWork
from opora.jobs.worker import Worker
from opora.kb import tasks as kb_tasks
from opora.kb.models import KbArticleVector
from opora.kb.search import repository, semantic
from opora.kb.search import service as search
from opora.runtime import Runtime, build_runtime
from tests.kb.conftest import KB, PUBLIC, hit_ids, make_article
from tests.support.factories import Desk

# Words (prefixes) of each topic; a text's vector counts the topics it mentions.
_TOPICS = (
    ("оплат", "apple", "карт", "pay"),
    ("жалоб", "ужасн", "шаблон", "обслуживан"),
    ("достав", "курьер", "courier"),
)


class ConceptEmbedder:
    name = "test-concepts"

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        out = np.zeros((len(texts), len(_TOPICS) + 1), dtype=np.float32)
        for row, text in enumerate(texts):
            words = text.lower().split()
            for column, prefixes in enumerate(_TOPICS):
                out[row, column] = sum(1 for w in words for p in prefixes if w.startswith(p))
            out[row, -1] = 0.05  # every text is a little alike, as real sentence vectors are
            out[row] /= np.linalg.norm(out[row])
        return out


@pytest.fixture(autouse=True)
def concepts(monkeypatch: pytest.MonkeyPatch) -> ConceptEmbedder:
    model = ConceptEmbedder()
    monkeypatch.setattr(semantic, "embedder", lambda: model)
    monkeypatch.setattr(semantic, "ENABLED", True)  # Settings.kb_search_reranking
    # Query vectors are cached per process by encoder name and text; each test's encoder is new.
    semantic.forget_query_vectors()
    return model


async def drain(runtime: Runtime) -> int:
    return await Worker(runtime, concurrency=1, poll_seconds=0.05).run_until_idle()


async def test_vectors_find_an_article_sharing_no_word_and_nonsense_finds_nothing(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    sup = desk.supervisor_h
    payment = await make_article(
        client, desk.olga_h, title="Способы оплаты", body_md="Оплатить можно картой онлайн.", publish_h=sup
    )
    complaint = await make_article(
        client, desk.olga_h, title="Жалоба на обслуживание", body_md="Оставьте жалобу.", publish_h=sup
    )
    # Before the embed jobs ran, full-text alone: «Apple Pay» matches no word of either.
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "Apple Pay работает?"})) == []
    assert await drain(runtime) >= 2
    async with runtime.db.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(KbArticleVector)) == 2
    assert (
        hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "Apple Pay работает?"}))[0] == payment["id"]
    )
    r = await client.get(f"{PUBLIC}/search", params={"q": "ужасный сервис, отвечаете шаблонами"})
    assert hit_ids(r)[0] == complaint["id"]
    # A query near no topic and matching no word: nothing, so it shows up as a content gap.
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "погода завтра"})) == []


async def test_with_reranking_off_no_vector_is_written_and_search_is_full_text(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(semantic, "ENABLED", False)

    class Untouched:
        name = "test-concepts"

        def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
            raise AssertionError("the encoder must not run while re-ranking is off")

    monkeypatch.setattr(semantic, "embedder", lambda: Untouched())
    sup = desk.supervisor_h
    payment = await make_article(
        client, desk.olga_h, title="Способы оплаты", body_md="Оплатить можно картой онлайн.", publish_h=sup
    )
    await drain(runtime)
    async with runtime.db.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(KbArticleVector)) == 0
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "Apple Pay работает?"})) == []
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "оплата картой"})) == [payment["id"]]


async def test_a_start_queues_vectors_for_articles_that_have_none(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Written while re-ranking was off (the default before ADR 41's update): no vectors.
    monkeypatch.setattr(semantic, "ENABLED", False)
    sup = desk.supervisor_h
    written = [
        await make_article(client, desk.olga_h, title=title, body_md=body, publish_h=sup)
        for title, body in (
            ("Способы оплаты", "Оплатить можно картой онлайн."),
            ("Жалоба на обслуживание", "Оставьте жалобу."),
            ("Доставка курьером", "Курьер привезёт заказ."),
        )
    ]
    draft = await make_article(client, desk.olga_h, title="Черновик про оплату", body_md="Карта.")
    await drain(runtime)
    assert await kb_tasks.embed_missing_on_start(runtime.db) is None  # off: nothing to do
    async with runtime.db.uow() as uow:
        # One article has a vector, but of an encoder this process no longer runs.
        article = (await repository.articles_by_ids(uow, [written[0]["id"]]))[written[0]["id"]]
        await repository.save_vector(uow, article, "retired-encoder", b"\0" * 16)

    monkeypatch.setattr(semantic, "ENABLED", True)
    monkeypatch.setattr(kb_tasks, "VECTORS_BATCH", 3)  # two jobs: a batch of 3, then the last one
    job = await kb_tasks.embed_missing_on_start(runtime.db)
    assert job is not None
    assert await kb_tasks.embed_missing_on_start(runtime.db) is None  # a second process: queued once
    assert await drain(runtime) == 2
    async with runtime.db.uow() as uow:
        stored = (
            await uow.session.execute(select(KbArticleVector.article_id, KbArticleVector.encoder))
        ).all()
    assert sorted(stored) == sorted((a["id"], "test-concepts") for a in [*written, draft])
    assert await kb_tasks.embed_missing_on_start(runtime.db) is None  # nothing missing any more
    assert (
        hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "Apple Pay работает?"}))[0]
        == written[0]["id"]
    )


def test_the_setting_switches_reranking_on_for_the_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(semantic, "ENABLED", False)
    build_runtime(Settings(data_dir=tmp_path, kb_search_reranking=False, _env_file=None))  # type: ignore[call-arg]
    assert semantic.ENABLED is False
    # On unless a desk turns it off.
    build_runtime(Settings(data_dir=tmp_path, _env_file=None))  # type: ignore[call-arg]
    assert semantic.ENABLED is True


async def test_vectors_obey_visibility_language_and_edits(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    sup = desk.supervisor_h
    internal = await make_article(
        client, desk.olga_h, title="Оплата для сотрудников", body_md="Карта.", internal=True, publish_h=sup
    )
    draft = await make_article(client, desk.olga_h, title="Оплата черновик", body_md="Карта.")
    english = await make_article(
        client, desk.olga_h, language="en", title="Payment", body_md="Pay by card.", publish_h=sup
    )
    await drain(runtime)
    q = {"q": "apple pay"}
    assert hit_ids(await client.get(f"{PUBLIC}/search", params=q)) == [english["id"]]
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={**q, "language": "ru"})) == []
    agent = set(hit_ids(await client.get(f"{KB}/search", params=q, headers=desk.olga_h)))
    assert internal["id"] in agent and draft["id"] not in agent

    # Rewritten to be about delivery: a new job, a new vector (its revision grows), and once
    # this process's copy is dropped, payment questions no longer reach it.
    async with runtime.db.uow() as uow:
        before = await uow.session.get(KbArticleVector, english["id"])
        assert before is not None
        revision = before.revision
    r = await client.patch(
        f"{KB}/articles/{english['id']}",
        json={"title": "Courier", "body_md": "The courier brings it."},
        headers=sup,
    )
    assert r.status_code == 200, r.text
    await drain(runtime)
    async with runtime.db.uow() as uow:
        row = await uow.session.get(KbArticleVector, english["id"])
        assert row is not None and row.revision == revision + 1
    assert hit_ids(await client.get(f"{PUBLIC}/search", params=q)) == []
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "курьер"})) == [english["id"]]


def test_fusion_keeps_full_text_order_among_equals_and_adds_near_articles() -> None:
    lexical = [(1, 8.0), (2, 4.0)]
    assert semantic.fuse(lexical, {}) == [(1, 1.0), (2, 0.5)]
    # Article 3 shares no word but is very near; article 2 is also near: both move up.
    fused = semantic.fuse(lexical, {1: 0.1, 2: 0.5, 3: 0.7})
    assert [article_id for article_id, _ in fused] == [3, 2, 1]
    assert semantic.fuse([], {}) == []


async def test_a_rare_word_outweighs_a_common_one(client: httpx.AsyncClient, desk: Desk) -> None:
    sup = desk.supervisor_h
    common = await make_article(
        client, desk.olga_h, title="Заказ", body_md="Заказ, заказ и ещё раз заказ.", publish_h=sup
    )
    for n in range(3):
        await make_article(client, desk.olga_h, title=f"Заказ {n}", body_md="Про заказ.", publish_h=sup)
    rare = await make_article(
        client,
        desk.olga_h,
        title="Комплектация",
        body_md="Если в заказе нет крепежа, напишите нам.",
        publish_h=sup,
    )
    found = hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "заказ без крепежа"}))
    assert found[0] == rare["id"] and common["id"] in found
    assert search.DF_TTL > 0


async def test_a_one_word_query_needs_no_document_frequencies(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    sup = desk.supervisor_h
    often = await make_article(client, desk.olga_h, title="Заказ", body_md="Заказ и заказ.", publish_h=sup)
    once = await make_article(client, desk.olga_h, title="Оплата", body_md="Оплата заказа.", publish_h=sup)
    await drain(runtime)
    counted: list[int] = []
    totals: list[int | None] = []
    frequencies = repository.document_frequencies

    async def counting(
        uow: UnitOfWork, clauses: Sequence[str], *, total: int | None = None
    ) -> tuple[int, list[int]]:
        counted.append(len(clauses))
        totals.append(total)
        return await frequencies(uow, clauses, total=total)

    monkeypatch.setattr(repository, "document_frequencies", counting)
    search._frequencies.clear()
    # The same order as with the re-scoring (the shares of the best score do not change).
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "заказ"}))[:2] == [
        often["id"],
        once["id"],
    ]
    assert counted == []
    await client.get(f"{PUBLIC}/search", params={"q": "оплата заказа"})
    assert counted == ([] if runtime.db.is_sqlite else [2])
    # New clauses are counted; the number of articles, counted with the first ones, is kept
    # like their frequencies (no count of every row again), and the ranking is the same.
    assert (
        hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "оплата картой заказа"}))[0] == once["id"]
    )
    assert totals == ([] if runtime.db.is_sqlite else [None, 2])


async def test_a_failing_encoder_leaves_full_text_search_working(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    payment = await make_article(
        client, desk.olga_h, title="Способы оплаты", body_md="Картой онлайн.", publish_h=desk.supervisor_h
    )
    await drain(runtime)

    class Broken(ConceptEmbedder):
        def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
            raise RuntimeError("model file is damaged")

    monkeypatch.setattr(semantic, "embedder", lambda: Broken())
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "способы оплаты"})) == [payment["id"]]
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "apple pay"})) == []


def test_a_clear_full_text_winner_needs_no_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(semantic, "CLEAR_WINNER", 1.5)
    assert semantic.clear_winner([(1, 9.0), (2, 3.0)])
    assert semantic.clear_winner([(1, 3.0), (2, 2.0)])
    assert not semantic.clear_winner([(1, 4.0), (2, 3.9)])
    # Nothing matched, or one article by a word it may share by chance: ask the vectors.
    assert not semantic.clear_winner([])
    assert not semantic.clear_winner([(1, 9.0)])
    # The default: every query is encoded (ADR 0041).
    monkeypatch.undo()
    assert not semantic.clear_winner([(1, 9.0), (2, 0.1)])


async def test_query_vectors_are_cached_and_cut(concepts: ConceptEmbedder) -> None:
    seen: list[str] = []

    class Counting(ConceptEmbedder):
        def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
            seen.extend(texts)
            return super().encode(texts)

    model = Counting()
    first = await semantic.query_vector(model, "оплата картой")
    again = await semantic.query_vector(model, "оплата картой ")
    assert seen == ["оплата картой"] and np.array_equal(first, again)
    await semantic.query_vector(model, "жалоба " * 100)
    assert len(seen[-1]) <= semantic.MAX_QUERY_EMBED_CHARS
    semantic.forget_query_vectors()
    await semantic.query_vector(model, "оплата картой")
    assert seen.count("оплата картой") == 2


def test_a_search_in_one_language_scores_only_its_vectors() -> None:
    vectors = np.eye(3, 4, dtype=np.float32)
    index = semantic.VectorIndex(
        "test", (3, 3), np.array([7, 5, 9]), np.array(["en", "ru", "ru"]), vectors, 0.0
    )
    query = np.array([1.0, 1.0, 1.0, 0.0], dtype=np.float32)
    assert set(index.nearest(query, "ru", ())[0]) == {5, 9}
    assert set(index.nearest(query, "en", ())[0]) == {7}
    assert set(index.nearest(query, None, ())[0]) == {5, 7, 9}
    assert index.nearest(query, "de", ())[0] == {}


def test_one_product_gives_the_nearest_and_the_full_text_matches() -> None:
    vectors = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    index = semantic.VectorIndex(
        "test", (4, 4), np.array([7, 5, 9, 3]), np.array(["en", "ru", "ru", "ru"]), vectors, 0.0
    )
    query = np.array([0.6, 0.8, 0.0], dtype=np.float32)
    near, given = index.nearest(query, "ru", [9, 3, 7, 42])
    # The Russian rows' cosines (fewer rows than CANDIDATES: all of them are the nearest).
    assert near == pytest.approx({5: 0.8, 9: 1.0, 3: 0.0})
    # 9 and 3 come from the language's product, 7 (another language: a search over every
    # language's matches) is scored on its own, and 42 has no vector yet.
    assert given == pytest.approx(index.similarity_of(query, [9, 3, 7]))
    assert set(given) == {9, 3, 7}
    assert index.nearest(query, "de", [5]) == ({}, pytest.approx({5: 0.8}))


async def test_the_page_is_filled_past_articles_the_scope_hides(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    sup = desk.supervisor_h
    # The internal article is the nearest to the question; a visitor's one-hit page must skip
    # it and still show the public article behind it.
    internal = await make_article(
        client, desk.olga_h, title="Оплата картой", body_md="Оплата картой.", internal=True, publish_h=sup
    )
    public = await make_article(
        client, desk.olga_h, title="Оплата и доставка", body_md="Курьер берёт оплату.", publish_h=sup
    )
    await drain(runtime)
    q = {"q": "apple pay", "limit": 1}
    assert hit_ids(await client.get(f"{KB}/search", params=q, headers=desk.olga_h)) == [internal["id"]]
    assert hit_ids(await client.get(f"{PUBLIC}/search", params=q)) == [public["id"]]


async def test_a_query_full_text_answers_clearly_is_not_encoded(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    sup = desk.supervisor_h
    returns = await make_article(
        client,
        desk.olga_h,
        title="Возврат товара",
        body_md="Возврат товара оформляется в личном кабинете, возврат занимает 14 дней.",
        publish_h=sup,
    )
    await make_article(client, desk.olga_h, title="Обмен", body_md="Обменять товар можно.", publish_h=sup)
    await make_article(client, desk.olga_h, title="Оплата", body_md="Оплатить картой.", publish_h=sup)
    await drain(runtime)
    encoded: list[str] = []

    class Counting(ConceptEmbedder):
        def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
            encoded.extend(texts)
            return super().encode(texts)

    monkeypatch.setattr(semantic, "embedder", lambda: Counting())
    monkeypatch.setattr(semantic, "CLEAR_WINNER", 1.5)
    # Both articles about goods match, the one about returns by far the best.
    found = hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "возврат товара"}))
    assert found[0] == returns["id"] and len(found) == 2
    assert encoded == []
    # No shared word: only the vectors can answer, so the query is encoded.
    await client.get(f"{PUBLIC}/search", params={"q": "apple pay"})
    assert encoded == ["apple pay"]
