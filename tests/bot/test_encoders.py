"""The bot's encoder is a setting (ADR 0042): its values, the encoders behind them, and a model
trained with one encoder never scoring vectors of another."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from pydantic import ValidationError

from opora.bot import embeddings, service
from opora.bot.classifier import IntentModel
from opora.config import ENCODER_CHOICES, Settings
from opora.runtime import Runtime
from tests.bot.fakes import WordHashEmbedder
from tests.support.factories import Desk

BOT = "/api/v1/bot"


class OtherHashEmbedder(WordHashEmbedder):
    """Same vectors, another name: stands for a deployment that switched its encoder."""

    name = "other-hash"


@pytest.fixture
def default_encoder() -> Iterator[None]:
    yield
    embeddings.configure("use")


def test_settings_and_embeddings_agree_on_the_choices() -> None:
    assert ENCODER_CHOICES == embeddings.CHOICES
    assert Settings().bot_encoder == "use+minilm"
    assert Settings(bot_encoder="use+e5").bot_encoder == "use+e5"


@pytest.mark.parametrize("value", ["bert", "E5", "", "use,e5"])
def test_bad_setting_is_refused_and_changes_nothing(value: str, default_encoder: None) -> None:
    embeddings.configure("e5")
    before = embeddings.bot_embedder()
    with pytest.raises(ValidationError, match="must be one of 'use', 'e5', 'use\\+e5'"):
        Settings(bot_encoder=value)
    with pytest.raises(ValueError, match="unknown encoder"):
        embeddings.configure(value)
    with pytest.raises(ValueError, match="unknown encoder"):
        embeddings.make_embedder(value)
    assert embeddings.bot_embedder() is before and before.name == embeddings.E5_NAME


def test_the_setting_picks_the_process_encoder(default_encoder: None) -> None:
    embeddings.configure("use")
    assert embeddings.bot_embedder() is embeddings.shared_embedder()
    embeddings.configure("use+e5")
    both = embeddings.bot_embedder()
    assert isinstance(both, embeddings.ConcatEmbedder)
    assert both.name == f"{embeddings.ENCODER_NAME}+{embeddings.E5_NAME}"
    # USE is shared with knowledge-base search, never loaded twice.
    assert both.parts[0] is embeddings.shared_embedder()
    assert embeddings.bot_embedder() is both


def test_e5_vectors_are_unit_rows_and_keep_meaning_across_languages() -> None:
    before = os.environ.get("OMP_NUM_THREADS")
    e5 = embeddings.E5Embedder()
    assert not e5.loaded and e5.encode([]).shape == (0, embeddings.E5_DIM)
    vectors = e5.encode(["Где мой заказ?", "Where is my order?", "Do you sell winter tyres?", "  "])
    assert e5.loaded and vectors.shape == (4, embeddings.E5_DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.05
    # The thread count is given to the engine, not left behind in the environment.
    assert os.environ.get("OMP_NUM_THREADS") == before


def test_concatenation_keeps_each_part_unit_length() -> None:
    both = embeddings.ConcatEmbedder([embeddings.shared_embedder(), embeddings.E5Embedder()])
    rows = both.encode(["вернуть товар", "refund please"])
    assert rows.shape == (2, embeddings.DIM + embeddings.E5_DIM)
    assert np.allclose(np.linalg.norm(rows[:, : embeddings.DIM], axis=1), 1.0, atol=1e-4)
    assert np.allclose(np.linalg.norm(rows[:, embeddings.DIM :], axis=1), 1.0, atol=1e-4)


async def test_a_model_is_never_used_with_another_encoder(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    assert (
        await client.post(f"{BOT}/starter", json={"language": "en"}, headers=desk.admin_h)
    ).status_code == 201
    async with runtime.db.uow() as uow:
        first = await service.train(uow, "en", embedder=WordHashEmbedder())
    assert first.status == "active" and first.encoder == "test-hash"
    assert first.weights is not None and IntentModel.from_bytes(first.weights).encoder == "test-hash"
    async with runtime.db.uow() as uow:
        same = await service.classify(uow, "where is my order", "en", embedder=WordHashEmbedder())
    assert same.intent == "order_status" and same.model_version == first.id

    with caplog.at_level(logging.WARNING, logger="opora.bot.service"):
        async with runtime.db.uow() as uow:
            other = await service.classify(uow, "where is my order", "en", embedder=OtherHashEmbedder())
    # Refused, not guessed: the bot hands off, and the log says why and what to do.
    assert other.abstained and other.intent is None and other.confidence == 0.0
    assert other.model_version == first.id and not other.out_of_scope
    assert "trained with encoder test-hash but this process runs other-hash" in caplog.text

    # Retraining with the running encoder brings the bot back.
    async with runtime.db.uow() as uow:
        second = await service.train(uow, "en", embedder=OtherHashEmbedder())
    assert second.status == "active" and second.encoder == "other-hash"
    async with runtime.db.uow() as uow:
        back = await service.classify(uow, "where is my order", "en", embedder=OtherHashEmbedder())
    assert back.intent == "order_status" and back.model_version == second.id
