"""Policy matching: first match by position wins, empty conditions allow anything."""

from __future__ import annotations

from opora.sla.policy import Policy, Target, TicketFacts, calendar_id_for, from_row, match

FAST = {"first_response": Target(30)}


def facts(**overrides: object) -> TicketFacts:
    base: dict[str, object] = {"channel_type": "email", "priority": "normal", "segment": None, "team_id": 1}
    base.update(overrides)
    return TicketFacts(**base)  # type: ignore[arg-type]


def test_first_matching_policy_by_position_wins() -> None:
    vip = Policy(id=3, position=0, targets=FAST, segments=frozenset({"vip"}))
    urgent_chat = Policy(
        id=2, position=1, targets=FAST, priorities=frozenset({"urgent"}), channel_types=frozenset({"webchat"})
    )
    default = Policy(id=1, position=9, targets=FAST)
    policies = [default, urgent_chat, vip]
    assert match(policies, facts(segment="vip", priority="urgent")) == vip
    assert match(policies, facts(priority="urgent", channel_type="webchat")) == urgent_chat
    assert match(policies, facts(priority="urgent")) == default
    assert match([vip, urgent_chat], facts()) is None


def test_ties_on_position_go_to_the_older_policy() -> None:
    first, second = Policy(id=1, position=5, targets=FAST), Policy(id=2, position=5, targets=FAST)
    assert match([second, first], facts()) == first


def test_team_condition() -> None:
    billing = Policy(id=1, position=0, targets=FAST, team_ids=frozenset({7}))
    assert match([billing], facts(team_id=7)) == billing
    assert match([billing], facts(team_id=None)) is None


def test_from_row_reads_stored_json() -> None:
    policy = from_row(
        id=4,
        position=2,
        conditions={"priorities": ["high"], "channel_types": [], "segments": [], "team_ids": []},
        targets={"first_response": {"minutes": 60, "business": False, "calendar_id": None}, "bogus": {}},
        warning_percent=75,
    )
    assert policy.priorities == frozenset({"high"}) and not policy.channel_types
    assert policy.targets == {"first_response": Target(60, business=False)}


def test_calendar_choice() -> None:
    assert calendar_id_for(Target(5, calendar_id=3), team_calendar_id=4, default_calendar_id=5) == 3
    assert calendar_id_for(Target(5), team_calendar_id=4, default_calendar_id=5) == 4
    assert calendar_id_for(Target(5), team_calendar_id=None, default_calendar_id=5) == 5
    assert (
        calendar_id_for(Target(5, business=False, calendar_id=3), team_calendar_id=4, default_calendar_id=5)
        is None
    )
