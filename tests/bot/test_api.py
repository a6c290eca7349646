"""Admins edit intents through /api/v1/bot; every edit queues a retraining; versions are kept."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from opora.bot import service, tasks
from opora.bot.classifier import IntentModel
from opora.bot.models import BotModel
from opora.jobs.models import Job
from opora.jobs.registry import JobContext
from opora.runtime import Runtime
from tests.bot.fakes import WordHashEmbedder
from tests.support.factories import Desk
from tests.support.snapshot import snapshot

BOT = "/api/v1/bot"


def _intent(key: str = "order_status", **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "language": "en",
        "key": key,
        "title": "Order status",
        "reply": "Order {{order.number}}",
        "examples": ["where is my order", "track my order", "order status please"],
    }
    body.update(extra)
    return body


async def _train_jobs(runtime: Runtime) -> list[Job]:
    async with runtime.db.uow() as uow:
        return list((await uow.session.scalars(select(Job).where(Job.task == service.TRAIN_TASK))).all())


async def test_crud_queues_retraining(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    r = await client.post(f"{BOT}/intents", json=_intent(), headers=desk.admin_h)
    assert r.status_code == 201, r.text
    intent = r.json()
    assert [e["text"] for e in intent["examples"]] == [
        "where is my order",
        "track my order",
        "order status please",
    ]
    jobs = await _train_jobs(runtime)
    assert [(j.payload, j.unique_key) for j in jobs] == [({"language": "en"}, "bot.train:en")]

    r = await client.post(
        f"{BOT}/intents/{intent['id']}/examples", json={"text": "my parcel?"}, headers=desk.admin_h
    )
    assert r.status_code == 201
    example_id = r.json()["id"]
    assert len(await _train_jobs(runtime)) == 1  # debounced into the waiting job

    r = await client.patch(
        f"{BOT}/intents/{intent['id']}", json={"title": "Where is it", "handoff": True}, headers=desk.admin_h
    )
    assert r.status_code == 200 and r.json()["title"] == "Where is it" and r.json()["handoff"] is True
    assert (await client.delete(f"{BOT}/examples/{example_id}", headers=desk.admin_h)).status_code == 204
    r = await client.get(f"{BOT}/intents", params={"language": "en"}, headers=desk.olga_h)
    assert [len(i["examples"]) for i in r.json()] == [3]
    assert (await client.delete(f"{BOT}/intents/{intent['id']}", headers=desk.admin_h)).status_code == 204
    assert (await client.get(f"{BOT}/intents/{intent['id']}", headers=desk.admin_h)).status_code == 404


@pytest.mark.parametrize(
    ("body", "who", "status"),
    [
        (_intent(key="Bad Key"), "admin_h", 422),
        (_intent(language="de"), "admin_h", 422),
        (_intent(examples=[""]), "admin_h", 422),
        (_intent(extra_field=1), "admin_h", 422),
        (_intent(kb_article_id=999999), "admin_h", 422),
        (_intent(), "olga_h", 403),
        (_intent(), "supervisor_h", 403),
    ],
)
async def test_refused_edits_change_nothing(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, body: dict[str, object], who: str, status: int
) -> None:
    before = await snapshot(runtime)
    r = await client.post(f"{BOT}/intents", json=body, headers=getattr(desk, who))
    assert r.status_code == status, r.text
    assert await snapshot(runtime) == before


async def test_duplicate_key_and_bad_settings_are_refused(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    assert (await client.post(f"{BOT}/intents", json=_intent(), headers=desk.admin_h)).status_code == 201
    before = await snapshot(runtime)
    assert (await client.post(f"{BOT}/intents", json=_intent(), headers=desk.admin_h)).status_code == 409
    assert (
        await client.put(f"{BOT}/settings/en", json={"max_wrong_rate": 0.9}, headers=desk.admin_h)
    ).status_code == 422
    assert (
        await client.put(f"{BOT}/settings/en", json={"max_wrong_rate": 0.05}, headers=desk.olga_h)
    ).status_code == 403
    assert await snapshot(runtime) == before


async def test_retrain_job_versions_and_classify(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "bot_embedder", WordHashEmbedder)
    r = await client.post(f"{BOT}/starter", json={"language": "en"}, headers=desk.admin_h)
    assert r.status_code == 201 and len(r.json()) == 13
    assert (
        await client.post(f"{BOT}/starter", json={"language": "en"}, headers=desk.admin_h)
    ).status_code == 409
    r = await client.put(f"{BOT}/settings/en", json={"max_wrong_rate": 0.05}, headers=desk.admin_h)
    assert r.json() == {"language": "en", "max_wrong_rate": 0.05}

    for _ in range(2):
        async with runtime.db.uow() as uow:
            ctx = JobContext(
                uow=uow,
                runtime=runtime,
                job_id=1,
                task=service.TRAIN_TASK,
                attempt=1,
                max_attempts=3,
                worker_id="t",
            )
            await tasks.retrain(ctx, {"language": "en"})
    models = (await client.get(f"{BOT}/models", params={"language": "en"}, headers=desk.admin_h)).json()
    assert [m["status"] for m in models] == ["active", "ready"]
    newest, older = models
    assert newest["id"] > older["id"] and newest["max_wrong_rate"] == 0.05
    assert newest["metrics"]["wrong"] <= 0.05 and newest["threshold"] is not None

    r = await client.post(
        f"{BOT}/classify", json={"text": "where is my order", "language": "en"}, headers=desk.olga_h
    )
    p = r.json()
    assert p["intent"] == "order_status" and p["model_version"] == newest["id"]
    r = await client.post(f"{BOT}/classify", json={"text": "zzz qqq", "language": "en"}, headers=desk.olga_h)
    assert r.json()["abstained"] is True
    # No model in Russian yet: the bot abstains rather than fails.
    r = await client.post(
        f"{BOT}/classify", json={"text": "где заказ", "language": "ru"}, headers=desk.olga_h
    )
    assert r.json() == {**r.json(), "abstained": True, "model_version": None}

    r = await client.post(f"{BOT}/models/{older['id']}/activate", headers=desk.admin_h)
    assert r.status_code == 200 and r.json()["status"] == "active"
    statuses = {
        m["id"]: m["status"] for m in (await client.get(f"{BOT}/models", headers=desk.admin_h)).json()
    }
    assert statuses == {older["id"]: "active", newest["id"]: "ready"}


async def test_training_with_too_few_examples_fails_visibly(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    await client.post(f"{BOT}/intents", json=_intent(examples=["where is my order"]), headers=desk.admin_h)
    async with runtime.db.uow() as uow:
        version = await service.train(uow, "en", embedder=WordHashEmbedder())
    assert version.status == "failed" and version.error
    async with runtime.db.uow() as uow:
        assert (await uow.session.scalars(select(BotModel.status))).all() == ["failed"]


async def test_each_language_trains_with_its_own_parameters(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    """Russian models lean less on character n-grams (ADR 0031); the weight is stored with the model."""
    for language in ("ru", "en"):
        r = await client.post(f"{BOT}/starter", json={"language": language}, headers=desk.admin_h)
        assert r.status_code == 201
    weights = {}
    for language in ("ru", "en"):
        async with runtime.db.uow() as uow:
            version = await service.train(uow, language, embedder=WordHashEmbedder())
            assert version.status == "active" and version.weights is not None
            weights[language] = IntentModel.from_bytes(version.weights).params.char_weight
    assert weights == {"ru": 0.5, "en": 1.0}
