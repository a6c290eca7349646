"""Exactly once: the same mail delivered twice at the same moment, or again after a restart, is one
message; a worker SIGKILLed in the middle of 500 mails loses none and doubles none."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from opora.channels.email.adapter import CONTENT_TYPE, mail_key
from opora.config import Settings
from opora.inbox.models import InboundPayload
from opora.inbox.service import receive
from opora.jobs.models import Job
from opora.jobs.worker import Worker
from opora.runtime import Runtime, build_runtime
from opora.tickets.models import Message, Ticket
from tests.channels.email.e2e_support import (
    count,
    drain,
    email_channel,
    mail,
    running_receiver,
    send,
)

ROOT = Path(__file__).resolve().parents[3]
BATCH = 500
STALL_AFTER = 120  # two committed batches of 50, then the third is in flight


async def test_the_same_mail_twice_at_once_and_after_a_restart_is_one_message(
    runtime: Runtime, settings: Settings
) -> None:
    await email_channel(runtime)
    raw = mail(message_id="<twice@customer.test>")
    async with running_receiver(runtime) as receiver:
        await asyncio.gather(send(receiver.port, raw), send(receiver.port, raw))
    await drain(runtime)
    assert await count(runtime, InboundPayload) == 1
    assert await count(runtime, Message) == 1

    # A new process (new runtime, new receiver) gets the same mail again, e.g. a sender's retry.
    restarted = build_runtime(settings)
    await restarted.start()
    try:
        async with running_receiver(restarted) as receiver:
            await send(receiver.port, raw)
        await drain(restarted)
        assert await count(restarted, InboundPayload) == 1
        assert await count(restarted, Message) == 1
    finally:
        await restarted.close()


def _spawn(database_url: str, data_dir: Path) -> subprocess.Popen[bytes]:
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "tests.channels.email.e2e_worker", "--data-dir", str(data_dir)]
    argv += ["--stall-after", str(STALL_AFTER), "--lease", "2"]
    env = {**os.environ, "OPORA_DATABASE_URL": database_url}
    with (data_dir / "worker.log").open("wb") as log:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


async def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            log = (path.parent / "worker.log").read_text(errors="replace")
            raise AssertionError(f"worker exited with {proc.returncode} before {path.name}:\n{log}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {path}")
        await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    channel = await email_channel(runtime)
    # Half new conversations, half replies to them: threading must survive the crash too.
    async with runtime.db.uow() as uow:
        for i in range(BATCH):
            parent = f"<m{i - 1}@customer.test>" if i % 2 else None
            raw = mail(
                sender=f"customer{i // 2}@customer.test",
                subject=f"Заказ {i // 2}",
                message_id=f"<m{i}@customer.test>",
                in_reply_to=parent,
            )
            await receive(
                uow, channel_id=channel.id, external_id=mail_key(raw), payload=raw, content_type=CONTENT_TYPE
            )

    proc = _spawn(database_url, tmp_path / "victim")
    try:
        # On SQLite the stalled worker holds the write lock: touch nothing until it is dead.
        await _wait_for(tmp_path / "victim" / "stalled", proc, timeout=60)
        proc.kill()
        await asyncio.to_thread(proc.wait, 10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -9
    committed = await count(runtime, Message)
    assert 0 < committed < BATCH, committed

    # A fresh worker finishes; the dead one's job comes back once its lease runs out. One job at a
    # time: two concurrent batches on PostgreSQL can take a reply while its parent is still
    # uncommitted in the other batch, and the reply then opens its own ticket. That is threading
    # under concurrency, not crash safety, which is what this test is about.
    rescuer = Worker(runtime, concurrency=1, poll_seconds=0.05, lease_seconds=5, worker_id="rescuer")
    deadline = time.monotonic() + 30
    while await count(runtime, Job, Job.state != "done") and time.monotonic() < deadline:
        await rescuer.run_until_idle()
        await asyncio.sleep(0.2)

    assert await count(runtime, Job, Job.state != "done") == 0
    assert await count(runtime, InboundPayload, InboundPayload.state == "processed") == BATCH
    async with runtime.db.uow() as uow:
        total = await uow.session.scalar(select(func.count()).select_from(Message))
        distinct = await uow.session.scalar(select(func.count(func.distinct(Message.external_id))))
        per_ticket = Counter((await uow.session.scalars(select(Message.ticket_id))).all())
    assert (total, distinct) == (BATCH, BATCH)
    assert await count(runtime, Ticket) == BATCH // 2
    assert set(per_ticket.values()) == {2}
