"""The incident rule as a pure function."""

from __future__ import annotations

from datetime import UTC, datetime

from opora.incidents.rules import reachable, rule_matches

T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)
T1 = datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_topic_and_window() -> None:
    def match(topic: str | None, at: datetime, until: datetime | None = T1) -> bool:
        return rule_matches(
            rule_topic="Оплата", rule_from=T0, rule_until=until, ticket_topic=topic, created_at=at
        )

    assert match("оплата", datetime(2026, 11, 23, 11, tzinfo=UTC))
    assert match("ОПЛАТА", T0)  # the start is inside
    assert not match("оплата", T1)  # the end is not
    assert not match("оплата", datetime(2026, 11, 23, 9, 59, tzinfo=UTC))
    assert not match("доставка", datetime(2026, 11, 23, 11, tzinfo=UTC))
    assert not match(None, datetime(2026, 11, 23, 11, tzinfo=UTC))
    assert match("оплата", datetime(2027, 1, 1, tzinfo=UTC), until=None)  # open-ended
    assert not rule_matches(rule_topic=None, rule_from=None, rule_until=None, ticket_topic="x", created_at=T0)


def test_closed_and_merged_tickets_are_not_written_to() -> None:
    assert reachable("solved", False) and reachable("open", False)
    assert not reachable("closed", False) and not reachable("open", True)
