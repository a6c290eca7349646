"""Settings for tests and the worker processes they spawn: no .env, a fixed key, no embedded worker."""

from __future__ import annotations

from pathlib import Path

from opora.config import Settings


def settings_for(data_dir: Path, database_url: str, *, redis_url: str | None = None) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        secret_key="test-secret-key",
        base_url="http://testserver",
        embedded_worker=False,
        # A test process starts hundreds of apps: the serving process's collector policy (ADR 43)
        # would freeze test objects between them. tests/ops/test_collector.py tests the policy and
        # the browser tests' server process runs it.
        gc_young_objects=0,
        # Re-ranking loads the 150 MB sentence encoder; the tests that need vectors switch it on
        # with a small stand-in encoder, and tests/kb/test_default_reranking.py runs the real one.
        kb_search_reranking=False,
        _env_file=None,  # type: ignore[call-arg]
    )
