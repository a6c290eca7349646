"""Replies on chat tickets are checked in their own transaction for a visitor to mail (mail.py)."""

from __future__ import annotations

from collections.abc import Sequence

from opora.channels.webchat import mail
from opora.db import UnitOfWork
from opora.events.reactions import Fact, reactor


@reactor("message_added", order=45, name="webchat.email_copy")
async def mail_replies_to_absent_visitors(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
    ids = [
        int(f.data["message_id"])
        for f in facts
        if f.data.get("direction") == "out"
        and not f.data.get("internal")
        and f.data.get("author_type") == "agent"
        and f.data.get("message_id")
    ]
    if ids:
        await mail.plan(uow, ids)
