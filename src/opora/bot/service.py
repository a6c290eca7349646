"""Use cases of the bot: editing intents, training versions, classifying a message.

The conversational flow in the channels builds on :func:`classify`: it returns a
:class:`~opora.bot.engine.Prediction` and never raises for a language without a model (it then
abstains with ``model_version=None``), so a channel can always fall back to a person.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from opora.bot import engine
from opora.bot import repository as repo
from opora.bot.classifier import IntentModel, params_for
from opora.bot.embeddings import Embedder, bot_embedder, encode_async
from opora.bot.engine import Prediction
from opora.bot.models import OUT_OF_SCOPE, BotExample, BotIntent, BotModel, BotSettings, ModelStatus
from opora.bot.schemas import ExampleOut, IntentCreate, IntentOut, IntentUpdate
from opora.bot.starter import OUT_OF_SCOPE as STARTER_OOS
from opora.bot.starter import STARTER
from opora.db import UnitOfWork
from opora.jobs.service import enqueue
from opora.kit.errors import Conflict, InvalidInput, NotFound
from opora.kit.time import utcnow

log = logging.getLogger(__name__)

TRAIN_TASK = "bot.train"
DEFAULT_MAX_WRONG_RATE = 0.02
# Admins edit several phrases in a row; one retraining after the last edit is enough.
RETRAIN_DELAY = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class _Loaded:
    model: IntentModel
    threshold: float
    oos_threshold: float


# Model versions are immutable, so a loaded version never goes stale; the per-language lookup
# of which version is active is one small query per classification.
_models: dict[tuple[int, datetime], _Loaded] = {}
_models_lock = threading.Lock()


async def intent_out(uow: UnitOfWork, intents: Sequence[BotIntent]) -> list[IntentOut]:
    examples = await repo.examples_of(uow.session, [i.id for i in intents])
    return [
        IntentOut(
            id=i.id,
            language=i.language,
            key=i.key,
            title=i.title,
            reply=i.reply,
            kb_article_id=i.kb_article_id,
            handoff=i.handoff,
            enabled=i.enabled,
            examples=[ExampleOut.model_validate(e) for e in examples[i.id]],
            updated_at=i.updated_at,
        )
        for i in intents
    ]


async def get_intent(uow: UnitOfWork, intent_id: int) -> BotIntent:
    intent = await repo.get_intent(uow.session, intent_id)
    if intent is None:
        raise NotFound(f"Intent {intent_id} not found.")
    return intent


async def _check_article(uow: UnitOfWork, article_id: int | None) -> None:
    if article_id is not None and not await repo.kb_article_exists(uow.session, article_id):
        raise InvalidInput(f"Knowledge-base article {article_id} not found.", field="kb_article_id")


def _unique(texts: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(t for t in texts if t))


async def create_intent(uow: UnitOfWork, data: IntentCreate) -> BotIntent:
    if await repo.intent_by_key(uow.session, data.language, data.key) is not None:
        raise Conflict(f"Intent {data.key!r} already exists for {data.language}.", field="key")
    await _check_article(uow, data.kb_article_id)
    intent = BotIntent(
        language=data.language,
        key=data.key,
        title=data.title,
        reply=data.reply,
        kb_article_id=data.kb_article_id,
        handoff=data.handoff,
        enabled=data.enabled,
    )
    uow.session.add(intent)
    await uow.session.flush()
    uow.session.add_all(BotExample(intent_id=intent.id, text=t) for t in _unique(data.examples))
    await schedule_training(uow, data.language)
    return intent


async def update_intent(uow: UnitOfWork, intent_id: int, data: IntentUpdate) -> BotIntent:
    intent = await get_intent(uow, intent_id)
    changes = data.model_dump(exclude_unset=True)
    for key in ("title", "reply", "handoff", "enabled"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null.", field=key)
    if "kb_article_id" in changes:
        await _check_article(uow, changes["kb_article_id"])
    examples = changes.pop("examples", None)
    for key, value in changes.items():
        setattr(intent, key, value)
    if examples is not None:
        await repo.delete_examples(uow.session, intent.id)
        uow.session.add_all(BotExample(intent_id=intent.id, text=t) for t in _unique(examples))
    intent.updated_at = utcnow()
    await uow.session.flush()
    await schedule_training(uow, intent.language)
    return intent


async def delete_intent(uow: UnitOfWork, intent_id: int) -> None:
    intent = await get_intent(uow, intent_id)
    await uow.session.delete(intent)
    await uow.session.flush()
    await schedule_training(uow, intent.language)


async def add_example(uow: UnitOfWork, intent_id: int, text: str) -> BotExample:
    intent = await get_intent(uow, intent_id)
    example = BotExample(intent_id=intent.id, text=text)
    uow.session.add(example)
    intent.updated_at = utcnow()
    await uow.session.flush()
    await schedule_training(uow, intent.language)
    return example


async def delete_example(uow: UnitOfWork, example_id: int) -> None:
    example = await repo.get_example(uow.session, example_id)
    if example is None:
        raise NotFound(f"Example {example_id} not found.")
    intent = await get_intent(uow, example.intent_id)
    await uow.session.delete(example)
    intent.updated_at = utcnow()
    await uow.session.flush()
    await schedule_training(uow, intent.language)


async def load_starter(uow: UnitOfWork, language: str) -> list[BotIntent]:
    """The starter intents of ``language`` plus its out-of-scope phrases, on an empty intent set."""
    if await repo.list_intents(uow.session, language):
        raise Conflict(f"The bot already has intents in {language}; edit them instead.", field="language")
    created = [
        BotIntent(language=language, key=s.key, title=s.title, reply=s.reply, handoff=s.handoff)
        for s in STARTER[language]
    ]
    oos_title = "Не по теме" if language == "ru" else "Out of scope"
    created.append(BotIntent(language=language, key=OUT_OF_SCOPE, title=oos_title, reply=""))
    uow.session.add_all(created)
    await uow.session.flush()
    phrases = [s.examples for s in STARTER[language]] + [STARTER_OOS[language]]
    uow.session.add_all(
        BotExample(intent_id=intent.id, text=text)
        for intent, texts in zip(created, phrases, strict=True)
        for text in texts
    )
    await schedule_training(uow, language)
    return created


async def get_settings(uow: UnitOfWork, language: str) -> BotSettings:
    found = await repo.get_settings(uow.session, language)
    return found or BotSettings(language=language, max_wrong_rate=DEFAULT_MAX_WRONG_RATE)


async def set_settings(uow: UnitOfWork, language: str, max_wrong_rate: float) -> BotSettings:
    found = await repo.get_settings(uow.session, language)
    if found is None:
        found = BotSettings(language=language)
        uow.session.add(found)
    found.max_wrong_rate = max_wrong_rate
    found.updated_at = utcnow()
    await uow.session.flush()
    await schedule_training(uow, language)
    return found


async def schedule_training(uow: UnitOfWork, language: str, *, delay: timedelta = RETRAIN_DELAY) -> bool:
    """Queue one retraining of ``language`` due within ``delay``; edits while it waits join the
    same job, and a retraining asked for sooner ("retrain now") brings the waiting one forward."""
    job = await enqueue(
        uow,
        TRAIN_TASK,
        {"language": language},
        unique_key=training_key(language),
        delay=delay,
        sooner=True,
    )
    return job is not None


def running_encoder(language: str) -> str:
    """The name of the encoder this process trains and classifies ``language`` with (naming it
    loads nothing: encoders load on their first encode)."""
    return bot_embedder(language).name


def training_key(language: str) -> str:
    """The unique key of a language's retraining job: at most one waits or runs per language,
    whoever asked for it (an edit, "retrain now", a start after an encoder change)."""
    return f"{TRAIN_TASK}:{language}"


async def train(uow: UnitOfWork, language: str, *, embedder: Embedder | None = None) -> BotModel:
    """Train, calibrate and store a new version; it becomes active if training succeeds.

    A failed training (too few examples) is stored as a failed version with the reason, and the
    previous active version stays in use.
    """
    embedder = embedder or bot_embedder(language)
    rows = await repo.training_rows(uow.session, language)
    settings = await get_settings(uow, language)
    in_scope = [(k, t) for k, t in rows if k != OUT_OF_SCOPE]
    oos = [t for k, t in rows if k == OUT_OF_SCOPE]
    version = BotModel(
        language=language,
        status=ModelStatus.TRAINING,
        encoder=embedder.name,
        max_wrong_rate=settings.max_wrong_rate,
        examples=len(rows),
        metrics={},
    )
    uow.session.add(version)
    await uow.session.flush()
    texts = [t for _, t in in_scope]
    labels = [k for k, _ in in_scope]
    try:
        vectors = await encode_async(embedder, texts + oos)
        fitted = await asyncio.to_thread(
            engine.fit,
            texts,
            labels,
            vectors[: len(texts)],
            oos,
            vectors[len(texts) :],
            encoder=embedder.name,
            max_wrong_rate=settings.max_wrong_rate,
            params=params_for(language),
        )
    except ValueError as exc:
        version.status = ModelStatus.FAILED
        version.error = str(exc)
        version.trained_at = utcnow()
        await uow.session.flush()
        return version
    version.weights = fitted.model.to_bytes()
    version.threshold = fitted.threshold
    version.metrics = {**fitted.metrics, "oos_threshold": fitted.oos_threshold}
    version.status = ModelStatus.ACTIVE
    version.trained_at = utcnow()
    await uow.session.flush()
    await repo.retire_active(uow.session, language, keep_id=version.id)
    return version


async def activate(uow: UnitOfWork, model_id: int) -> BotModel:
    """Go back (or forward) to a stored version."""
    version = await repo.get_model(uow.session, model_id)
    if version is None:
        raise NotFound(f"Model version {model_id} not found.")
    if version.status not in (ModelStatus.READY, ModelStatus.ACTIVE) or version.weights is None:
        raise InvalidInput(f"Model version {model_id} has no trained weights.", field="model_id")
    version.status = ModelStatus.ACTIVE
    await uow.session.flush()
    await repo.retire_active(uow.session, version.language, keep_id=version.id)
    return version


async def _loaded(uow: UnitOfWork, head: tuple[int, datetime]) -> _Loaded | None:
    model_id = head[0]
    with _models_lock:
        cached = _models.get(head)
    if cached is not None:
        return cached
    row = await repo.get_model(uow.session, model_id)
    if row is None or row.weights is None:
        return None
    threshold = row.threshold if row.threshold is not None else 1.01
    oos = row.metrics.get("oos_threshold")
    loaded = _Loaded(
        IntentModel.from_bytes(row.weights),
        threshold,
        float(oos) if isinstance(oos, int | float) else threshold,
    )
    with _models_lock:
        _models[head] = loaded
    return loaded


# Keyed like the loaded models: an emptied table (tests, a restored backup) hands out ids again.
_warned: set[tuple[tuple[int, datetime], str]] = set()


def _warn_encoder(head: tuple[int, datetime], trained_with: str, running: str) -> None:
    if (head, running) in _warned:
        return
    _warned.add((head, running))
    log.warning(
        "bot model %s was trained with encoder %s but this process runs %s (OPORA_BOT_ENCODER): "
        "the bot hands every message to a person until the language is retrained",
        head[0],
        trained_with,
        running,
    )


async def classify(
    uow: UnitOfWork, text: str, language: str, *, embedder: Embedder | None = None
) -> Prediction:
    """Classify one customer message with the active version of ``language``."""
    head = await repo.active_model_head(uow.session, language)
    loaded = await _loaded(uow, head) if head else None
    if head is None or loaded is None:
        return Prediction(intent=None, confidence=0.0, abstained=True, out_of_scope=False)
    embedder = embedder or bot_embedder(language)
    if loaded.model.encoder != embedder.name:
        # Vectors of another encoder mean nothing to these weights (other dimensions at best,
        # confident nonsense at worst): hand the message to a person until the next training.
        _warn_encoder(head, loaded.model.encoder, embedder.name)
        return Prediction(
            intent=None, confidence=0.0, abstained=True, out_of_scope=False, model_version=head[0]
        )
    vectors = await encode_async(embedder, [text])
    probabilities = loaded.model.probabilities([text], vectors)[0]
    return engine.decide(
        np.asarray(probabilities),
        loaded.model.classes,
        threshold=loaded.threshold,
        oos_threshold=loaded.oos_threshold,
        model_version=head[0],
        oos_margin=loaded.model.params.oos_margin,
    )
