"""IMAP polling against a real Dovecot on loopback: mail becomes tickets, is marked only after the
commit, and polling again (or after a crash before the marking) duplicates nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from opora.channels.email import imap
from opora.channels.email.tasks import POLL_TASK
from opora.inbox.models import InboundPayload
from opora.jobs.service import enqueue
from opora.runtime import Runtime
from opora.tickets.models import Message, Ticket
from tests.channels.email import dovecot
from tests.channels.email.e2e_support import CUSTOMER, SUPPORT, count, drain, email_channel, mail, messages

SALES = "sales@shop.test"
PASSWORD = "imap-пароль-1"

pytestmark = pytest.mark.skipif(
    dovecot.binary() is None,
    reason="Debian's dovecot is not installed (scripts/install-system installs dovecot-imapd)",
)


@pytest.fixture(scope="module")
def server() -> Iterator[dovecot.Dovecot]:
    instance = dovecot.Dovecot({SUPPORT: PASSWORD, SALES: PASSWORD})
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


async def poll(runtime: Runtime) -> None:
    async with runtime.db.uow() as uow:
        await enqueue(uow, POLL_TASK, {})
    await drain(runtime)


def imap_settings(server: dovecot.Dovecot, user: str, **extra: object) -> dict[str, object]:
    return {
        "imap_host": "127.0.0.1",
        "imap_port": server.port,
        "imap_security": "none",
        "imap_username": user,
        "secrets": {"imap_password": PASSWORD},
        **extra,
    }


async def test_polled_mail_becomes_tickets_once_and_is_marked_seen(
    runtime: Runtime, server: dovecot.Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    await email_channel(runtime, **imap_settings(server, SUPPORT))
    # Read by a person before Opora was connected: never imported, however often we poll.
    server.deliver(SUPPORT, mail(subject="Старое прочитанное"), seen=True)
    first = mail(subject="Где заказ 1234?", message_id="<q1@customer.test>")
    server.deliver(SUPPORT, first)
    server.deliver(SUPPORT, mail(subject="Re: Где заказ 1234?", in_reply_to="<q1@customer.test>"))
    server.deliver(SUPPORT, mail(sender="olga@other.test", subject="Возврат"))
    # Our own reply, kept by the mailbox (a Bcc or a Sent copy): stored, never a customer message.
    server.deliver(SUPPORT, mail(sender=SUPPORT, to=CUSTOMER, subject="Re: [#1] Где заказ 1234?"))

    await poll(runtime)

    assert await count(runtime, Ticket) == 2
    assert await count(runtime, Message) == 3
    assert await count(runtime, InboundPayload) == 4
    assert await count(runtime, InboundPayload, InboundPayload.state == "ignored") == 1
    assert server.unseen_files(SUPPORT) == []
    assert len(server.seen_files(SUPPORT)) == 5

    # Nothing unseen: a second poll stores nothing.
    await poll(runtime)
    assert await count(runtime, InboundPayload) == 4

    # The same mail delivered again (a second copy of the file, as after a restore) is one message.
    server.deliver(SUPPORT, first)
    # A crash after the commit and before the marking: the mail stays unseen...
    server.deliver(SUPPORT, mail(subject="Ещё вопрос", message_id="<q4@customer.test>"))

    def crash(*_args: object) -> None:
        raise ConnectionError("the process died before marking")

    monkeypatch.setattr(imap, "mark_processed", crash)
    await poll(runtime)
    assert len(server.unseen_files(SUPPORT)) == 2
    monkeypatch.undo()
    # ...so the next poll fetches it again, and the inbox drops what it already has.
    await poll(runtime)
    assert server.unseen_files(SUPPORT) == []
    assert await count(runtime, Message) == 4
    assert await count(runtime, Ticket) == 3
    assert [m.external_id for m in await messages(runtime, Message.external_id == "q1@customer.test")] == [
        "q1@customer.test"
    ]


async def test_processed_mail_is_moved_to_the_configured_folder(
    runtime: Runtime, server: dovecot.Dovecot
) -> None:
    await email_channel(runtime, address=SALES, **imap_settings(server, SALES, imap_processed_folder="Opora"))
    for i in range(3):
        server.deliver(SALES, mail(to=SALES, subject=f"Опт {i}"))

    await poll(runtime)

    assert await count(runtime, Ticket) == 3
    assert server.unseen_files(SALES) == []
    assert server.seen_files(SALES) == []  # nothing left in the inbox itself
    assert len(server.seen_files(SALES, ".Opora")) == 3


async def test_wrong_password_fails_the_poll_and_stores_nothing(
    runtime: Runtime, server: dovecot.Dovecot
) -> None:
    settings = imap_settings(server, SUPPORT)
    settings["secrets"] = {"imap_password": "wrong"}
    await email_channel(runtime, **settings)
    server.deliver(SUPPORT, mail(subject="Не дойдёт до пароля"))

    await poll(runtime)

    assert await count(runtime, InboundPayload) == 0
    assert len(server.unseen_files(SUPPORT)) >= 1
