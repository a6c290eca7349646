"""The ticket lifecycle as a pure state machine.

new → open → pending (waiting for the customer) → on_hold (waiting for a third party) → solved →
closed. Agents move tickets between the working states; a customer reply wakes a waiting ticket
and reopens a solved one within the reopen window; after that, or once closed, it starts a new
ticket that links to the old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from opora.kit.errors import IllegalTransition


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    ON_HOLD = "on_hold"
    SOLVED = "solved"
    CLOSED = "closed"


WORKING = frozenset({Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD})

# Transitions an agent (or a rule acting for one) may make by hand.
ALLOWED: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.SOLVED}),
    Status.OPEN: frozenset({Status.PENDING, Status.ON_HOLD, Status.SOLVED}),
    Status.PENDING: frozenset({Status.OPEN, Status.ON_HOLD, Status.SOLVED}),
    Status.ON_HOLD: frozenset({Status.OPEN, Status.PENDING, Status.SOLVED}),
    Status.SOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


def transition(current: Status, target: Status) -> Status:
    """Return ``target`` if an agent may move a ticket there from ``current``."""
    if current == target:
        return current
    if target == Status.NEW:
        raise IllegalTransition("A ticket cannot go back to 'new'.", field="status", old=current, new=target)
    if target not in ALLOWED[current]:
        raise IllegalTransition(
            f"A ticket cannot go from '{current}' to '{target}'.", field="status", old=current, new=target
        )
    return target


class Route(StrEnum):
    SAME = "same"  # the message joins the ticket, status as returned
    NEW_TICKET = "new_ticket"  # the ticket is finished: open a follow-up


@dataclass(frozen=True)
class CustomerReplyOutcome:
    route: Route
    status: Status


def on_customer_message(
    current: Status, *, solved_at: datetime | None, now: datetime, reopen_window: timedelta
) -> CustomerReplyOutcome:
    """What a message from the customer does to the ticket it threads into."""
    if current == Status.CLOSED:
        return CustomerReplyOutcome(Route.NEW_TICKET, Status.NEW)
    if current == Status.SOLVED:
        if solved_at is not None and now - solved_at <= reopen_window:
            return CustomerReplyOutcome(Route.SAME, Status.OPEN)
        return CustomerReplyOutcome(Route.NEW_TICKET, Status.NEW)
    if current in (Status.PENDING, Status.ON_HOLD):
        return CustomerReplyOutcome(Route.SAME, Status.OPEN)
    return CustomerReplyOutcome(Route.SAME, current)


def on_agent_reply(current: Status, requested: Status | None = None) -> Status:
    """A public reply takes a new ticket into work; "send and set status" applies the request."""
    if current == Status.CLOSED:
        raise IllegalTransition("The ticket is closed; start a new one to write again.", field="status")
    base = Status.OPEN if current == Status.NEW else current
    if requested is None:
        return base
    return transition(base, requested)


def check_merge(
    *,
    source_id: int,
    source_status: Status,
    source_merged: bool,
    target_id: int,
    target_status: Status,
    target_merged: bool,
) -> None:
    """Merging moves the source's messages into the target and closes the source."""
    if source_id == target_id:
        raise IllegalTransition("A ticket cannot be merged into itself.", field="target_ticket_id")
    if source_merged:
        raise IllegalTransition("The ticket was already merged into another one.", field="ticket_id")
    if target_merged:
        raise IllegalTransition("The target ticket was merged into another one.", field="target_ticket_id")
    if target_status == Status.CLOSED:
        raise IllegalTransition("A closed ticket cannot receive a merge.", field="target_ticket_id")
    if source_status == Status.CLOSED:
        raise IllegalTransition("A closed ticket cannot be merged.", field="ticket_id")
