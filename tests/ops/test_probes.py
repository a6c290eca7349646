from pathlib import Path

import httpx
import pytest

from opora.ops import endpoints as ops_endpoints
from opora.runtime import Runtime
from tests.ops.helpers import app_client


async def test_root_points_to_the_api(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == "Opora"
    assert body["version"]
    assert body["links"] == {"openapi": "/openapi.json", "api": "/api/v1", "healthz": "/healthz"}


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz_when_everything_answers(client: httpx.AsyncClient, runtime: Runtime) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "bus": "ok"}}
    # A probe leaves nothing behind in the pool.
    assert runtime.db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_readyz_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    async with app_client(tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}") as http:
        r = await http.get("/readyz")
        assert (await http.get("/healthz")).status_code == 200  # alive, just not ready
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert "opora migrate" in body["checks"]["migrations"]
    assert [reason.split(":")[0] for reason in body["reasons"]] == ["migrations"]


async def test_readyz_refuses_an_unreachable_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'opora.db'}"
    async with app_client(tmp_path, database_url=url) as http:
        r = await http.get("/readyz")
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert checks["database"].startswith("unreachable")
    assert checks["migrations"].startswith("unknown")


async def test_readyz_refuses_an_unreachable_bus(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ops_endpoints, "CHECK_TIMEOUT_SECONDS", 1.0)
    async with app_client(tmp_path, database_url=database_url, redis_url="redis://127.0.0.1:1/0") as http:
        r = await http.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"] == "ok"
    assert body["checks"]["bus"] != "ok"
    assert [reason.split(":")[0] for reason in body["reasons"]] == ["bus"]
