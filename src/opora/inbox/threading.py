"""Which ticket an inbound message joins: a pure decision over what the look-ups found."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from opora.tickets import lifecycle
from opora.tickets.lifecycle import Route, Status


@dataclass(frozen=True)
class Candidate:
    ticket_id: int
    customer_id: int
    status: Status
    solved_at: datetime | None


@dataclass(frozen=True)
class Decision:
    ticket_id: int | None  # None: open a new ticket
    status: Status  # the joined ticket's status after the message (NEW for a new ticket)
    follow_up_of: int | None = None
    reason: str = "new"


def decide(
    *,
    customer_id: int,
    by_reference: Candidate | None,
    by_number: Candidate | None,
    latest_on_channel: Candidate | None,
    continues_conversation: bool,
    now: datetime,
    reopen_window: timedelta,
) -> Decision:
    """Reply reference first, then the ticket number in the subject, then the open conversation.

    A reply reference (a provider message id) is hard to guess, so it threads whoever answers,
    e.g. a colleague in copy. A ticket number is easy to type, so it only threads the ticket's
    own customer. Chat-like channels continue the customer's last conversation; mail starts a new
    ticket without a reference, as people expect from e-mail.
    """
    candidate, reason = None, "new"
    if by_reference is not None:
        candidate, reason = by_reference, "reference"
    elif by_number is not None and by_number.customer_id == customer_id:
        candidate, reason = by_number, "subject_number"
    elif continues_conversation and latest_on_channel is not None:
        candidate, reason = latest_on_channel, "conversation"
    if candidate is None:
        return Decision(ticket_id=None, status=Status.NEW)
    outcome = lifecycle.on_customer_message(
        candidate.status, solved_at=candidate.solved_at, now=now, reopen_window=reopen_window
    )
    if outcome.route == Route.NEW_TICKET:
        return Decision(
            ticket_id=None, status=Status.NEW, follow_up_of=candidate.ticket_id, reason=f"{reason}_finished"
        )
    return Decision(ticket_id=candidate.ticket_id, status=outcome.status, reason=reason)
