"""IMAP IDLE against a real Dovecot: new mail is polled as soon as the server announces it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from opora.channels.email.idle import IdleWatcher
from opora.channels.email.tasks import POLL_MAILBOX_TASK
from opora.jobs.models import Job
from opora.runtime import Runtime
from opora.tickets.models import Ticket
from tests.channels.email import dovecot
from tests.channels.email.e2e_support import SUPPORT, count, drain, email_channel, mail

PASSWORD = "idle-secret"

pytestmark = pytest.mark.skipif(
    dovecot.binary() is None,
    reason="Debian's dovecot is not installed (scripts/install-system installs dovecot-imapd)",
)


@pytest.fixture(scope="module")
def server() -> Iterator[dovecot.Dovecot]:
    instance = dovecot.Dovecot({SUPPORT: PASSWORD})
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


async def wait_for_a_queued_poll(runtime: Runtime, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await count(runtime, Job, Job.task == POLL_MAILBOX_TASK, Job.state == "queued"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no poll was queued")


async def test_new_mail_wakes_the_poll_at_once(runtime: Runtime, server: dovecot.Dovecot) -> None:
    await email_channel(
        runtime,
        imap_host="127.0.0.1",
        imap_port=server.port,
        imap_security="none",
        imap_username=SUPPORT,
        secrets={"imap_password": PASSWORD},
    )
    watcher = IdleWatcher(runtime, idle_wait=2.0)
    await watcher.start()
    try:
        # On connecting it polls once for whatever arrived while nobody watched.
        await wait_for_a_queued_poll(runtime)
        await drain(runtime)
        assert await count(runtime, Ticket) == 0
        server.deliver(SUPPORT, mail(subject="Пришло во время IDLE"))
        await wait_for_a_queued_poll(runtime)
        await drain(runtime)
        assert await count(runtime, Ticket) == 1
    finally:
        await watcher.stop()
