"""Real worker processes: one killed mid-job, and two sharing a thousand jobs."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from opora.db import Database
from opora.jobs.models import Job, JobState
from opora.jobs.service import enqueue
from opora.jobs.worker import Worker
from opora.migrate import upgrade
from opora.runtime import Runtime
from tests.jobs import worker_proc
from tests.jobs.helpers import effects, job_row, spawn_worker, stop_process, wait_for_file, wait_until
from tests.support import services

pytestmark = pytest.mark.slow


async def test_job_of_a_killed_worker_runs_again_after_its_lease(
    runtime: Runtime, database_url: str, effects_table: None, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    async with runtime.db.uow() as uow:
        job_id = await enqueue(
            uow, "test.crash_once", {"marker_dir": str(markers)}, registry=worker_proc.registry
        )
    assert job_id is not None

    proc = spawn_worker(database_url, tmp_path / "victim", lease=2, concurrency=1, worker_id="victim")
    try:
        # The handler has written its row (uncommitted) and sleeps: kill it mid-transaction.
        await wait_for_file(markers / "attempt-1", proc, timeout=30)
        proc.kill()
        proc.wait(10)
    finally:
        stop_process(proc)

    rescuer = Worker(
        runtime, concurrency=1, registry=worker_proc.registry, lease_seconds=2, worker_id="rescuer"
    )

    async def rerun_done() -> bool:
        await rescuer.run_until_idle()
        return (await job_row(runtime.db, job_id)).state == JobState.DONE

    await wait_until(rerun_done, timeout=20, what="the job to be rerun after the lease expired")
    job = await job_row(runtime.db, job_id)
    assert (job.attempts, job.locked_by) == (2, "rescuer")
    assert "lease expired: worker victim" in (job.last_error or "")
    assert await effects(runtime.db) == [(job_id, 2, "rescuer")]
    assert (markers / "attempt-2").read_text() == "rescuer"


@pytest.mark.postgres
async def test_two_worker_processes_run_a_thousand_jobs_exactly_once(tmp_path: Path) -> None:
    # Always against the real PostgreSQL, whatever this session's backend: SKIP LOCKED is the point.
    name = f"opora_jobs_{uuid.uuid4().hex[:10]}"
    url = await asyncio.to_thread(services.create_pg_database, name)
    db: Database | None = None
    procs = []
    try:
        await asyncio.to_thread(upgrade, url)
        db = Database(url)
        async with db.engine.begin() as conn:
            await conn.execute(text(worker_proc.CREATE_EFFECTS))
        procs = [
            spawn_worker(url, tmp_path / f"w{i}", concurrency=8, lease=30, worker_id=f"w{i}") for i in (1, 2)
        ]
        # Generous: two processes importing the desk at once on a loaded two-core machine took
        # more than 30 s (load average 11).
        for i, proc in enumerate(procs, start=1):
            await wait_for_file(tmp_path / f"w{i}" / "ready", proc, timeout=90)

        async with db.uow() as uow:
            for _ in range(1000):
                await enqueue(uow, "test.record", {"sleep": 0.005}, registry=worker_proc.registry)

        async def all_done() -> bool:
            assert db is not None
            async with db.uow() as uow:
                done = await uow.session.scalar(
                    select(func.count()).select_from(Job).where(Job.state == JobState.DONE)
                )
            return done == 1000

        await wait_until(all_done, timeout=45, what="1,000 jobs to finish")
        assert [stop_process(proc) for proc in procs] == [0, 0]

        rows = await effects(db)
        assert len(rows) == 1000
        assert len({job_id for job_id, _attempt, _worker in rows}) == 1000
        assert {attempt for _job, attempt, _worker in rows} == {1}
        per_worker = Counter(worker for _job, _attempt, worker in rows)
        assert set(per_worker) == {"w1", "w2"}, per_worker
        async with db.uow() as uow:
            attempts = (await uow.session.scalars(select(Job.attempts).distinct())).all()
        assert list(attempts) == [1]
    finally:
        for proc in procs:
            stop_process(proc)
        if db is not None:
            await db.dispose()
        await asyncio.to_thread(services.drop_pg_database, name)
