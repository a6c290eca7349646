"""The bot takes new conversations on its channels before SLA, routing and rules see them
(order 9: after enrichment has set the language, before the auto-acknowledgement at 11 and
routing at 20, which both leave tickets in bot mode alone). A ``human_requested`` tag (the
widget's "Talk to a person") hands off at once."""

from __future__ import annotations

from collections.abc import Sequence

from opora.bot import conversation
from opora.db import UnitOfWork
from opora.events.reactions import Fact, reactor


@reactor("ticket_created", "message_added", "tags_changed", order=9, name="bot.conversation")
async def take_new_conversations(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
    await conversation.on_messages(uow, facts)
