"""Small helpers shared by the job tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, text, update

from opora.db import Database
from opora.jobs.models import Job
from opora.kit.time import utcnow
from tests.jobs.worker_proc import EFFECTS_TABLE

ROOT = Path(__file__).resolve().parents[2]


async def job_row(db: Database, job_id: int) -> Job:
    async with db.uow() as uow:
        job = await uow.session.get(Job, job_id)
    assert job is not None
    return job


async def all_jobs(db: Database) -> list[Job]:
    async with db.uow() as uow:
        return list((await uow.session.scalars(select(Job).order_by(Job.id))).all())


async def make_due(db: Database, job_id: int) -> None:
    """Skip a job's backoff without waiting for it."""
    async with db.uow() as uow:
        await uow.session.execute(
            update(Job).where(Job.id == job_id).values(run_at=utcnow() - timedelta(seconds=1))
        )


async def effects(db: Database) -> list[tuple[int, int, str]]:
    async with db.uow() as uow:
        rows = await uow.session.execute(
            text(f"SELECT job_id, attempt, worker FROM {EFFECTS_TABLE} ORDER BY job_id, attempt")
        )
        return [(int(r[0]), int(r[1]), str(r[2])) for r in rows.all()]


async def wait_until(check: Callable[[], Awaitable[bool]], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def spawn_worker(database_url: str, data_dir: Path, **options: Any) -> subprocess.Popen[bytes]:
    """Start ``tests.jobs.worker_proc``; its log goes to ``data_dir/worker.log``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "tests.jobs.worker_proc", "--data-dir", str(data_dir)]
    for key, value in options.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    env = {**os.environ, "OPORA_DATABASE_URL": database_url}
    log = (data_dir / "worker.log").open("wb")
    try:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


async def wait_for_file(path: Path, proc: subprocess.Popen[bytes], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            log = path.parent / "worker.log"
            detail = log.read_text() if log.exists() else ""
            raise AssertionError(f"worker exited with {proc.returncode} before {path.name}:\n{detail}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {path}")
        await asyncio.sleep(0.05)


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float = 15) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
