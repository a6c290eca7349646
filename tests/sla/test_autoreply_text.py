"""The promise of an acknowledgement in words, in Russian and English."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from opora.sla.autoreply import enabled_for, expected_reply, language_of, may_answer

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2025, 3, 12, 11, 0, tzinfo=MSK)  # a Wednesday


@pytest.mark.parametrize(
    ("due", "ru", "en"),
    [
        (NOW + timedelta(hours=2), "в течение 2 часов", "within 2 hours"),
        (NOW + timedelta(minutes=61), "в течение 2 часов", "within 2 hours"),
        (NOW + timedelta(hours=1), "в течение 1 часа", "within 1 hour"),
        (NOW + timedelta(minutes=17), "в течение 20 минут", "within 20 minutes"),
        (NOW + timedelta(hours=21 - 11), "сегодня до 21:00", "today by 21:00"),
        (datetime(2025, 3, 13, 10, 0, tzinfo=MSK), "завтра до 10:00", "by 10:00 tomorrow"),
        (
            datetime(2025, 3, 17, 9, 30, tzinfo=MSK),
            "в понедельник, 17 марта, до 09:30",
            "by 09:30 on Monday, 17 March",
        ),
        (NOW - timedelta(minutes=5), "в ближайшее время", "as soon as possible"),
    ],
)
def test_phrases(due: datetime, ru: str, en: str) -> None:
    assert expected_reply(NOW, due, "Europe/Moscow", "ru", out_of_hours=False) == ru
    assert expected_reply(NOW, due, "Europe/Moscow", "en", out_of_hours=False) == en


def test_out_of_hours_names_the_time_instead_of_a_duration() -> None:
    late = datetime(2025, 3, 12, 23, 0, tzinfo=MSK)
    due = datetime(2025, 3, 13, 10, 0, tzinfo=MSK)
    assert expected_reply(late, due, "Europe/Moscow", "ru", out_of_hours=True) == "завтра до 10:00"
    early = datetime(2025, 3, 13, 7, 0, tzinfo=MSK)
    assert expected_reply(early, due, "Europe/Moscow", "en", out_of_hours=True) == "today by 10:00"


def test_a_short_promise_past_midnight_stays_a_duration() -> None:
    late = datetime(2025, 3, 12, 23, 53, tzinfo=MSK)
    due = late + timedelta(hours=2)
    assert expected_reply(late, due, "Europe/Moscow", "en", out_of_hours=False) == "within 2 hours"
    assert expected_reply(late, due, "Europe/Moscow", "ru", out_of_hours=False) == "в течение 2 часов"
    # Out of hours the desk names the time it opens, whatever the distance.
    assert expected_reply(late, due, "Europe/Moscow", "en", out_of_hours=True) == "by 01:53 tomorrow"


def test_due_with_seconds_rounds_up_to_the_next_minute() -> None:
    due = datetime(2025, 3, 13, 10, 0, 1, tzinfo=MSK)
    assert expected_reply(NOW, due, "Europe/Moscow", "en", out_of_hours=False) == "by 10:01 tomorrow"


def test_phrase_uses_the_calendar_time_zone() -> None:
    due = datetime(2025, 3, 13, 10, 0, tzinfo=MSK)  # 08:00 in Berlin
    assert expected_reply(NOW, due, "Europe/Berlin", "en", out_of_hours=True) == "by 08:00 tomorrow"


def test_language_and_flags() -> None:
    assert (
        language_of("en", "ru") == "en"
        and language_of(None, "en") == "en"
        and language_of(None, None) == "ru"
    )
    assert may_answer({"threaded_by": "new"})
    for flag in ("no_auto_reply", "auto_submitted", "bulk", "rate_limited"):
        assert not may_answer({flag: True})
    assert enabled_for((True, {}), True) and not enabled_for((True, {}), False)
    assert enabled_for((True, {"auto_acknowledge": True}), False)
    assert not enabled_for((True, {"auto_acknowledge": False}), True)
    assert not enabled_for((False, {"auto_acknowledge": True}), True) and not enabled_for(None, True)
