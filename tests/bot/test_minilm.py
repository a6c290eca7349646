"""all-MiniLM-L6-v2 on numpy and the ``use+minilm`` encoder choice (ADR 0045)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from opora.bot import embeddings, minilm, service
from opora.config import Settings
from opora.runtime import Runtime, build_runtime
from tests.support.factories import Desk

BOT = "/api/v1/bot"


@pytest.fixture(scope="module")
def model() -> minilm.MiniLM:
    return minilm.MiniLM()


@pytest.fixture
def default_encoder() -> Iterator[None]:
    yield
    embeddings.configure("use")


def test_vectors_are_unit_rows_that_match_the_published_model(model: minilm.MiniLM) -> None:
    assert model.encode([]).shape == (0, minilm.DIM)
    vectors = model.encode(
        [
            "That is a happy person",
            "That is a happy dog",
            "That is a very happy person",
            "Today is a sunny day",
        ]
    )
    assert vectors.shape == (4, minilm.DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # The similarities sentence-transformers documents for this model and these sentences.
    assert np.allclose(vectors[1:] @ vectors[0], [0.6945, 0.9429, 0.2569], atol=2e-3)


def test_same_text_same_vector_alone_or_in_a_batch(model: minilm.MiniLM) -> None:
    texts = ["Where is my order?", "I would like to return these shoes, they are too small", "hi"]
    batch = model.encode(texts)
    assert np.array_equal(batch, model.encode(texts))
    alone = np.vstack([model.encode([text]) for text in texts])
    assert np.allclose(alone, batch, atol=1e-5)  # padding in a batch changes nothing
    assert batch[0] @ model.encode(["where's my package"])[0] > batch[0] @ batch[1] + 0.2


def test_long_input_is_cut_at_256_tokens(model: minilm.MiniLM) -> None:
    long = "refund " * 1000
    ids = model.tokenizer.encode(long)
    assert len(ids) == minilm.MAX_TOKENS and ids[0] == model.tokenizer.cls and ids[-1] == model.tokenizer.sep
    assert np.array_equal(model.encode([long]), model.encode([long + " and something else entirely"]))


def test_tokenizer_folds_case_and_accents_and_splits_punctuation(model: minilm.MiniLM) -> None:
    assert minilm.WordPiece.words("Café DÉJÀ-vu,\u200bok?! 你好") == [
        "cafe",
        "deja",
        "-",
        "vu",
        ",",
        "ok",
        "?",
        "!",
        "你",
        "好",
    ]
    tok = model.tokenizer
    pieces = tok.pieces("unaffordable")
    assert len(pieces) > 1 and all(p != tok.unk for p in pieces)
    assert tok.pieces("x" * 101) == [tok.unk]
    assert tok.encode("") == [tok.cls, tok.sep]


def test_safetensors_reader_finds_every_layer() -> None:
    tensors = minilm.read_safetensors(minilm.model_dir() / "model.safetensors")
    assert tensors["embeddings.word_embeddings.weight"].shape == (30522, minilm.DIM)
    assert tensors["encoder.layer.5.intermediate.dense.weight"].shape == (1536, minilm.DIM)


def test_english_models_get_minilm_and_the_others_keep_use(default_encoder: None) -> None:
    assert Settings(bot_encoder="use+minilm").bot_encoder == "use+minilm"
    assert embeddings.for_language("use+minilm", "en") == "use+minilm"
    assert embeddings.for_language("use+minilm", None) == "use+minilm"
    assert embeddings.for_language("use+minilm", "ru") == "use"
    assert embeddings.for_language("use+e5", "ru") == "use+e5"
    embeddings.configure("use+minilm")
    english = embeddings.bot_embedder("en")
    assert isinstance(english, embeddings.ConcatEmbedder)
    assert english.name == f"{embeddings.ENCODER_NAME}+{embeddings.MINILM_NAME}"
    assert english.parts[0] is embeddings.shared_embedder()  # USE is loaded once
    assert embeddings.bot_embedder("ru") is embeddings.shared_embedder()
    assert embeddings.bot_embedder("en") is english
    rows = english.encode(["refund please", "  "])
    assert rows.shape == (2, embeddings.DIM + embeddings.MINILM_DIM)
    assert np.allclose(np.linalg.norm(rows[:, embeddings.DIM :], axis=1), 1.0, atol=1e-5)


def test_missing_weights_stop_the_start_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, default_encoder: None
) -> None:
    embeddings.configure("use")
    monkeypatch.setattr(minilm, "PACKAGE", "opora_no_such_weights_package")
    with pytest.raises(minilm.MissingModel, match=r"OPORA_BOT_ENCODER=use\+minilm: .*run scripts/install"):
        build_runtime(Settings(bot_encoder="use+minilm", data_dir=tmp_path))
    # Nothing changed: the process keeps the encoder it had.
    assert embeddings.bot_embedder("en") is embeddings.shared_embedder()


async def test_switching_to_use_minilm_hands_english_off_until_retrained(
    client: httpx.AsyncClient,
    desk: Desk,
    runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
    default_encoder: None,
) -> None:
    for language in ("en", "ru"):
        response = await client.post(f"{BOT}/starter", json={"language": language}, headers=desk.admin_h)
        assert response.status_code == 201
    embeddings.configure("use")
    async with runtime.db.uow() as uow:
        english = await service.train(uow, "en")
    async with runtime.db.uow() as uow:
        russian = await service.train(uow, "ru")
    assert english.encoder == russian.encoder == embeddings.ENCODER_NAME

    embeddings.configure("use+minilm")
    with caplog.at_level(logging.WARNING, logger="opora.bot.service"):
        async with runtime.db.uow() as uow:
            refused = await service.classify(uow, "where is my order", "en")
    assert refused.abstained and refused.intent is None and refused.model_version == english.id
    assert f"but this process runs {embeddings.ENCODER_NAME}+{embeddings.MINILM_NAME}" in caplog.text
    # Russian keeps USE under this setting, so its model goes on answering.
    async with runtime.db.uow() as uow:
        kept = await service.classify(uow, "где мой заказ", "ru")
    assert kept.intent == "order_status" and kept.model_version == russian.id

    async with runtime.db.uow() as uow:
        retrained = await service.train(uow, "en")
    assert retrained.encoder == f"{embeddings.ENCODER_NAME}+{embeddings.MINILM_NAME}"
    async with runtime.db.uow() as uow:
        back = await service.classify(uow, "where is my order", "en")
    assert back.intent == "order_status" and back.model_version == retrained.id
