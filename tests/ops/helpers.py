"""A client on a runtime of its own, for databases and buses other than the test ones."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from opora.app import create_app
from opora.config import Settings
from opora.runtime import build_runtime


@asynccontextmanager
async def app_client(
    tmp_path: Path, *, database_url: str, redis_url: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    runtime = build_runtime(
        Settings(
            data_dir=tmp_path / "data",
            database_url=database_url,
            redis_url=redis_url,
            secret_key="test-secret-key",
            embedded_worker=False,
            _env_file=None,  # type: ignore[call-arg]
        )
    )
    try:
        transport = httpx.ASGITransport(app=create_app(runtime, run_worker=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        await runtime.close()
