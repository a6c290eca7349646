"""A job worker in its own process, for the crash and multi-process tests.

    python -m tests.jobs.worker_proc --data-dir DIR [--concurrency N] [--lease S] [--worker-id ID]

The database comes from ``OPORA_DATABASE_URL``. Once the worker runs, ``DIR/ready`` holds its id;
SIGTERM stops it gracefully, SIGKILL is what the crash test sends.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import text

from opora.jobs.registry import JobContext, Registry
from opora.jobs.worker import Worker, run_worker_forever
from opora.runtime import build_runtime
from tests.support.settings import settings_for

registry = Registry()

EFFECTS_TABLE = "test_job_effects"
CREATE_EFFECTS = f"CREATE TABLE IF NOT EXISTS {EFFECTS_TABLE} (job_id BIGINT NOT NULL, attempt INTEGER NOT NULL, worker VARCHAR(100) NOT NULL)"
DROP_EFFECTS = f"DROP TABLE IF EXISTS {EFFECTS_TABLE}"
_INSERT_EFFECT = text(
    f"INSERT INTO {EFFECTS_TABLE} (job_id, attempt, worker) VALUES (:job_id, :attempt, :worker)"
)


async def record_effect(ctx: JobContext) -> None:
    """The job's visible side effect, written in the job's own transaction."""
    params = {"job_id": ctx.job_id, "attempt": ctx.attempt, "worker": ctx.worker_id}
    await ctx.uow.session.execute(_INSERT_EFFECT, params)


@registry.task("test.record", max_attempts=3, retry_base=0.1)
async def record(ctx: JobContext, payload: dict[str, Any]) -> None:
    await record_effect(ctx)
    # A little work per job, so that one worker cannot drain the queue before the other wakes.
    await asyncio.sleep(float(payload.get("sleep", 0)))


@registry.task("test.crash_once", max_attempts=5, timeout=120)
async def crash_once(ctx: JobContext, payload: dict[str, Any]) -> None:
    await record_effect(ctx)
    marker = Path(payload["marker_dir"]) / f"attempt-{ctx.attempt}"
    marker.write_text(ctx.worker_id)
    if ctx.attempt == 1:
        await asyncio.sleep(120)  # the test kills the process here, mid-transaction


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--poll", type=float, default=0.2)
    parser.add_argument("--worker-id", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = settings_for(args.data_dir, os.environ["OPORA_DATABASE_URL"])
    ready = args.data_dir / "ready"

    def on_ready(worker: Worker) -> None:
        ready.write_text(worker.worker_id)

    runtime = build_runtime(settings)
    asyncio.run(
        run_worker_forever(
            runtime,
            args.concurrency,
            registry=registry,
            on_ready=on_ready,
            worker_id=args.worker_id,
            lease_seconds=args.lease,
            poll_seconds=args.poll,
        )
    )


if __name__ == "__main__":
    main()
