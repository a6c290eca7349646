"""`use+minilm` is the default encoder (ADR 0045): a start retrains the models stored with another
encoder through the job queue, once, and a desk without the MiniLM wheel falls back to `use`
unless the setting asked for MiniLM."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select

from opora.app import create_app
from opora.bot import embeddings, minilm, service, upgrade
from opora.bot.models import BotExample, BotIntent, BotModel
from opora.config import Settings
from opora.jobs.models import Job
from opora.jobs.worker import Worker
from opora.runtime import Runtime, build_runtime
from tests.support.factories import Desk

BOT = "/api/v1/bot"
USE = embeddings.ENCODER_NAME
USE_MINILM = f"{embeddings.ENCODER_NAME}+{embeddings.MINILM_NAME}"


@pytest.fixture
def default_encoder() -> Iterator[None]:
    yield
    embeddings.configure("use")


async def start(settings: Settings, **changes: str) -> None:
    """What starting `opora serve` does to the bot: build a runtime from the settings (so
    ``configure`` runs) and go through the app's start-up and shutdown."""
    runtime = build_runtime(settings.model_copy(update=changes))
    app = create_app(runtime, run_worker=False)
    async with app.router.lifespan_context(app):
        pass


async def train_jobs(runtime: Runtime) -> list[Job]:
    async with runtime.db.uow() as uow:
        return list(
            (
                await uow.session.scalars(select(Job).where(Job.task == service.TRAIN_TASK).order_by(Job.id))
            ).all()
        )


async def versions(runtime: Runtime, language: str) -> list[BotModel]:
    async with runtime.db.uow() as uow:
        query = select(BotModel).where(BotModel.language == language).order_by(BotModel.id)
        return list((await uow.session.scalars(query)).all())


async def desk_trained_with_use(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> dict[str, int]:
    """English and Russian starter models trained with `use`, as a desk had them before the
    default changed; the retrainings the starter queued have run long ago."""
    for language in ("en", "ru"):
        response = await client.post(f"{BOT}/starter", json={"language": language}, headers=desk.admin_h)
        assert response.status_code == 201
    embeddings.configure("use")
    ids = {}
    for language in ("en", "ru"):
        async with runtime.db.uow() as uow:
            version = await service.train(uow, language)
        assert version.status == "active" and version.encoder == USE
        ids[language] = version.id
    async with runtime.db.uow() as uow:
        await uow.session.execute(delete(Job))
    return ids


async def test_a_start_with_the_new_default_retrains_english_once_through_the_queue(
    client: httpx.AsyncClient,
    desk: Desk,
    runtime: Runtime,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    default_encoder: None,
) -> None:
    old = await desk_trained_with_use(client, desk, runtime)

    # The upgrade: the setting is unset, so the new default applies.
    assert "bot_encoder" not in settings.model_fields_set
    with caplog.at_level(logging.INFO, logger="opora.bot"):
        await start(settings)
    assert embeddings.bot_embedder("en").name == USE_MINILM
    [job] = await train_jobs(runtime)
    assert job.state == "queued" and job.payload == {"language": "en"}
    assert job.unique_key == service.training_key("en") and job.run_at <= job.created_at
    lines = [r.getMessage() for r in caplog.records if r.name == "opora.bot.upgrade"]
    assert lines == [
        f"bot model {old['en']} (en) was trained with encoder {USE} but this process runs {USE_MINILM} "
        f"(OPORA_BOT_ENCODER): retraining queued (job {job.id}); the bot hands en messages to a person "
        "until the new version is active"
    ]

    # Until the job has run, English hands off (never scored with the wrong encoder).
    async with runtime.db.uow() as uow:
        waiting = await service.classify(uow, "where is my order", "en")
    assert waiting.abstained and waiting.intent is None and waiting.model_version == old["en"]

    assert await Worker(runtime, concurrency=1).run_until_idle() == 1
    english = await versions(runtime, "en")
    assert [(v.id, v.status, v.encoder) for v in english] == [
        (old["en"], "ready", USE),
        (english[-1].id, "active", USE_MINILM),
    ]
    [russian] = await versions(runtime, "ru")
    assert (russian.id, russian.status, russian.encoder) == (old["ru"], "active", USE)
    async with runtime.db.uow() as uow:
        answered = await service.classify(uow, "where is my order", "en")
    assert answered.intent == "order_status" and answered.model_version == english[-1].id
    async with runtime.db.uow() as uow:
        kept = await service.classify(uow, "где мой заказ", "ru")
    assert kept.intent == "order_status" and kept.model_version == old["ru"]

    # Restarts (and other processes starting) find nothing left to do.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="opora.bot"):
        await start(settings)
        await start(settings, bot_encoder="use+minilm")
    assert [j.id for j in await train_jobs(runtime)] == [job.id]
    assert not [r for r in caplog.records if r.name == "opora.bot.upgrade"]


async def test_processes_starting_together_queue_one_job_per_language(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, settings: Settings, default_encoder: None
) -> None:
    await desk_trained_with_use(client, desk, runtime)
    # An edit made just before the upgrade queued a retraining half a minute away.
    async with runtime.db.uow() as uow:
        assert await service.schedule_training(uow, "en")
    [edit] = await train_jobs(runtime)
    embeddings.configure("use+minilm")
    first = await upgrade.retrain_stale(runtime.db)
    second = await upgrade.retrain_stale(runtime.db)
    # The waiting job is brought forward rather than doubled, and a second start adds nothing.
    assert first == {"en": edit.id} and second == {"en": None}
    [job] = await train_jobs(runtime)
    assert job.id == edit.id and job.state == "queued" and job.run_at < edit.run_at - timedelta(seconds=20)


async def test_a_failed_retraining_keeps_the_old_model_shows_the_reason_and_is_not_repeated(
    client: httpx.AsyncClient,
    desk: Desk,
    runtime: Runtime,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    default_encoder: None,
) -> None:
    old = await desk_trained_with_use(client, desk, runtime)
    async with runtime.db.uow() as uow:
        # An admin emptied the English phrases after the last training: training must fail.
        english = select(BotIntent.id).where(BotIntent.language == "en")
        await uow.session.execute(delete(BotExample).where(BotExample.intent_id.in_(english)))

    await start(settings)
    assert await Worker(runtime, concurrency=1).run_until_idle() == 1
    kept, failed = await versions(runtime, "en")
    assert (kept.id, kept.status, kept.encoder) == (old["en"], "active", USE)
    assert failed.status == "failed" and failed.encoder == USE_MINILM and failed.error
    response = await client.get(f"{BOT}/models", params={"language": "en"}, headers=desk.admin_h)
    assert response.status_code == 200
    shown = {row["id"]: row for row in response.json()}
    assert shown[failed.id]["status"] == "failed" and shown[failed.id]["error"] == failed.error

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="opora.bot"):
        await start(settings)
    assert len(await train_jobs(runtime)) == 1  # the failed one only
    [line] = [r.getMessage() for r in caplog.records if r.name == "opora.bot.upgrade"]
    assert f"version {failed.id}, trained with it since, is not active" in line


@pytest.fixture
def no_minilm_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(minilm, "PACKAGE", "opora_no_such_weights_package")
    monkeypatch.delenv("OPORA_BOT_ENCODER", raising=False)


def test_without_the_wheel_the_default_falls_back_to_use_with_one_warning(
    no_minilm_wheel: None, tmp_path: Path, caplog: pytest.LogCaptureFixture, default_encoder: None
) -> None:
    embeddings.configure("e5")
    settings = Settings(data_dir=tmp_path, _env_file=None)
    with caplog.at_level(logging.WARNING, logger="opora.bot"):
        build_runtime(settings)
    assert embeddings.bot_embedder("en") is embeddings.shared_embedder()
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("OPORA_BOT_ENCODER is unset and its default use+minilm cannot run: ")
    assert "run scripts/install" in line and "set OPORA_BOT_ENCODER=use to silence this" in line


@pytest.mark.parametrize("how", ["environment", "argument"])
def test_without_the_wheel_an_explicit_use_minilm_still_stops_the_start(
    how: str,
    no_minilm_wheel: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    default_encoder: None,
) -> None:
    embeddings.configure("use")
    if how == "environment":
        monkeypatch.setenv("OPORA_BOT_ENCODER", "use+minilm")
        settings = Settings(data_dir=tmp_path, _env_file=None)
    else:
        settings = Settings(data_dir=tmp_path, bot_encoder="use+minilm", _env_file=None)
    with pytest.raises(minilm.MissingModel, match=r"OPORA_BOT_ENCODER=use\+minilm: .*run scripts/install"):
        build_runtime(settings)
    assert embeddings.bot_embedder("en") is embeddings.shared_embedder()


@pytest.mark.parametrize("damage", ["truncated", "no vocabulary", "not safetensors"])
def test_damaged_weights_count_as_missing(
    damage: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    default_encoder: None,
) -> None:
    source = minilm.model_dir()
    broken = tmp_path / "model"
    broken.mkdir()
    weights = (source / "model.safetensors").read_bytes()
    if damage == "truncated":
        (broken / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    elif damage == "not safetensors":
        (broken / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    else:
        (broken / "model.safetensors").write_bytes(weights)
    if damage != "no vocabulary":
        shutil.copy(source / "vocab.txt", broken / "vocab.txt")
    monkeypatch.setattr(minilm, "model_dir", lambda: broken)
    monkeypatch.delenv("OPORA_BOT_ENCODER", raising=False)
    embeddings.configure("use")

    with pytest.raises(minilm.MissingModel, match=r"OPORA_BOT_ENCODER=use\+minilm: .* cannot be read"):
        build_runtime(Settings(data_dir=tmp_path, bot_encoder="use+minilm", _env_file=None))
    with caplog.at_level(logging.WARNING, logger="opora.bot"):
        settings = Settings(data_dir=tmp_path, _env_file=None)
        build_runtime(settings)
    assert embeddings.bot_embedder("en") is embeddings.shared_embedder()
    assert "cannot be read" in caplog.text
