from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opora.kit.errors import IllegalTransition
from opora.tickets import lifecycle
from opora.tickets.lifecycle import ALLOWED, Route, Status

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.NEW, Status.OPEN),
        (Status.OPEN, Status.PENDING),
        (Status.PENDING, Status.ON_HOLD),
        (Status.ON_HOLD, Status.SOLVED),
        (Status.SOLVED, Status.OPEN),
        (Status.SOLVED, Status.CLOSED),
    ],
)
def test_allowed_transitions(current: Status, target: Status) -> None:
    assert lifecycle.transition(current, target) == target


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.OPEN, Status.NEW),
        (Status.OPEN, Status.CLOSED),
        (Status.CLOSED, Status.OPEN),
        (Status.CLOSED, Status.SOLVED),
        (Status.SOLVED, Status.PENDING),
    ],
)
def test_illegal_transitions_are_refused_with_reason(current: Status, target: Status) -> None:
    with pytest.raises(IllegalTransition) as err:
        lifecycle.transition(current, target)
    assert err.value.field == "status"
    assert current in err.value.message or "new" in err.value.message


@given(st.sampled_from(list(Status)), st.sampled_from(list(Status)))
def test_transition_table_is_the_only_truth(current: Status, target: Status) -> None:
    allowed = current == target or target in ALLOWED[current]
    try:
        lifecycle.transition(current, target)
    except IllegalTransition:
        assert not allowed
    else:
        assert allowed


def test_closed_is_terminal() -> None:
    assert ALLOWED[Status.CLOSED] == frozenset()


@pytest.mark.parametrize("status", [Status.PENDING, Status.ON_HOLD])
def test_customer_reply_wakes_waiting_ticket(status: Status) -> None:
    outcome = lifecycle.on_customer_message(status, solved_at=None, now=NOW, reopen_window=WEEK)
    assert outcome == lifecycle.CustomerReplyOutcome(Route.SAME, Status.OPEN)


def test_customer_reply_reopens_solved_within_window_only() -> None:
    inside = lifecycle.on_customer_message(
        Status.SOLVED, solved_at=NOW - timedelta(days=6), now=NOW, reopen_window=WEEK
    )
    assert inside.route == Route.SAME and inside.status == Status.OPEN
    outside = lifecycle.on_customer_message(
        Status.SOLVED, solved_at=NOW - timedelta(days=8), now=NOW, reopen_window=WEEK
    )
    assert outside.route == Route.NEW_TICKET


def test_customer_reply_to_closed_starts_new_ticket() -> None:
    outcome = lifecycle.on_customer_message(Status.CLOSED, solved_at=NOW, now=NOW, reopen_window=WEEK)
    assert outcome.route == Route.NEW_TICKET and outcome.status == Status.NEW


def test_agent_reply_opens_new_ticket_and_applies_requested_status() -> None:
    assert lifecycle.on_agent_reply(Status.NEW) == Status.OPEN
    assert lifecycle.on_agent_reply(Status.NEW, Status.PENDING) == Status.PENDING
    assert lifecycle.on_agent_reply(Status.OPEN, Status.SOLVED) == Status.SOLVED
    with pytest.raises(IllegalTransition):
        lifecycle.on_agent_reply(Status.CLOSED)


def _merge(**overrides: object) -> None:
    args: dict[str, object] = {
        "source_id": 1,
        "source_status": Status.OPEN,
        "source_merged": False,
        "target_id": 2,
        "target_status": Status.OPEN,
        "target_merged": False,
    }
    args.update(overrides)
    lifecycle.check_merge(**args)  # type: ignore[arg-type]


def test_merge_rules() -> None:
    _merge()
    _merge(target_status=Status.SOLVED)
    for bad in (
        {"target_id": 1},
        {"source_merged": True},
        {"target_merged": True},
        {"target_status": Status.CLOSED},
        {"source_status": Status.CLOSED},
    ):
        with pytest.raises(IllegalTransition):
            _merge(**bad)
