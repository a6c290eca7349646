"""Unauthenticated endpoints for operators and orchestrators: /, /healthz, /readyz, /metrics.

None of them uses the request's unit of work: a probe must answer (and say what is wrong) even
when the database is down, and a failed read must not turn into a failed commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from prometheus_client.core import Metric
from sqlalchemy import text

from opora import __version__
from opora.auth.deps import RuntimeDep
from opora.db import Database
from opora.events.bus import EventBus
from opora.jobs.service import queue_stats
from opora.migrate import is_current
from opora.ops.collector import Collector
from opora.ops.metrics import CONTENT_TYPE_LATEST, Metrics, collector_families, job_families

log = logging.getLogger(__name__)

router = APIRouter(tags=["ops"])

# An orchestrator probes every few seconds; an answer that takes longer than this is a "no".
CHECK_TIMEOUT_SECONDS = 3.0
# Nobody subscribes to this topic: publishing on it proves the bus accepts messages.
HEALTH_TOPIC = "health"


@router.get("/", response_model=None)
async def root(request: Request) -> dict[str, Any] | RedirectResponse:
    """A browser goes to the workspace; a program gets the links it needs."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/inbox", status_code=303)
    return {
        "name": "Opora",
        "version": __version__,
        "links": {"openapi": "/openapi.json", "api": "/api/v1", "healthz": "/healthz"},
    }


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and its event loop answers; dependencies are /readyz's business."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A dependency is missing; `reasons` says which."}})
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    checks: dict[str, str] = {}
    checks["database"] = await _check(_database_answers(runtime.db))
    if checks["database"] == "ok":
        checks["migrations"] = await _check(_migrations_current(runtime.db))
    else:
        checks["migrations"] = "unknown: the database is unreachable"
    checks["bus"] = await _check(_bus_accepts(runtime.bus))
    reasons = [f"{name}: {outcome}" for name, outcome in checks.items() if outcome != "ok"]
    if reasons:
        return JSONResponse({"status": "unavailable", "checks": checks, "reasons": reasons}, status_code=503)
    return JSONResponse({"status": "ready", "checks": checks})


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."}},
)
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    registry: Metrics = request.app.state.metrics
    families = await _job_metrics(runtime.db)
    # Absent when the app runs without its lifespan (an ASGI transport in tests).
    collector: Collector | None = getattr(request.app.state, "collector", None)
    if collector is not None:
        families += collector_families(collector.stats)
    return Response(registry.render(families), media_type=CONTENT_TYPE_LATEST)


class _NotReady(Exception):
    pass


async def _check(probe: Awaitable[None]) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await probe
    except _NotReady as exc:
        return str(exc)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    except Exception as exc:  # any driver or network error means "not ready"; the log has the details
        log.warning("readiness check failed", exc_info=True)
        return f"unreachable ({exc.__class__.__name__})"
    return "ok"


async def _database_answers(database: Database) -> None:
    async with database.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _migrations_current(database: Database) -> None:
    if not await is_current(database):
        raise _NotReady("the schema is not at the latest migration; run `opora migrate`")


async def _bus_accepts(bus: EventBus) -> None:
    await bus.publish(HEALTH_TOPIC, {"probe": "readyz"})


async def _job_metrics(database: Database) -> list[Metric]:
    """Job gauges for this scrape, or none when the jobs table cannot be read.

    A missing series is something to alert on (``absent(opora_jobs)``); the HTTP metrics of this
    process are still worth delivering meanwhile.
    """
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), database.uow() as uow:
            stats = await queue_stats(uow)
    except Exception:  # any driver error: the scrape itself must still succeed
        log.warning("could not read the job queue for /metrics", exc_info=True)
        return []
    return job_families(stats)
