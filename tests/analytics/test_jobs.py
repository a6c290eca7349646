"""The hourly job: spikes of a topic alert supervisors; Monday morning queues the weekly email."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from opora.analytics import tasks
from opora.analytics.definitions import is_spike
from opora.analytics.mail import Attachment
from opora.jobs.models import Job
from opora.notifications.models import Notification
from opora.runtime import Runtime
from tests.analytics.scenario import Scenario, msk
from tests.support.factories import Desk

MSK = ZoneInfo("Europe/Moscow")


def test_spike_rule() -> None:
    assert is_spike(8, [1, 1, 2, 1])
    assert not is_spike(4, [0, 0, 0, 0])  # too few to mean anything
    assert not is_spike(9, [6, 7, 8, 9])  # a busy hour as usual
    assert is_spike(5, [])  # a topic never seen at this hour
    assert not is_spike(12, [1, 10, 1, 10])  # within the topic's usual swings


async def test_topic_spike_notifies_supervisors_and_admins(runtime: Runtime, desk: Desk) -> None:
    s = Scenario(runtime)
    for week in range(1, 5):
        await s.ticket(msk(16, 12, 10) - timedelta(weeks=week), channel="api", topic="payment failed")
    spike = [await s.ticket(msk(16, 12, 5 * i), channel="api", topic="payment failed") for i in range(8)]
    await s.ticket(msk(16, 12, 30), channel="api", topic="delivery")
    await s.ticket(msk(16, 12, 40), channel="api", topic="delivery")
    async with runtime.db.uow() as uow:
        found = await tasks.detect_spikes(uow, now=msk(16, 13, 5), zone=MSK)
    assert found == ["payment failed"]
    async with runtime.db.uow() as uow:
        rows = (await uow.session.scalars(select(Notification).order_by(Notification.agent_id))).all()
    assert {r.agent_id for r in rows} == {desk.admin.id, desk.supervisor.id}
    assert all(r.ticket_id == max(spike) and "payment failed" in r.snippet and "8" in r.snippet for r in rows)
    # The next hour is quiet: nothing new.
    async with runtime.db.uow() as uow:
        assert await tasks.detect_spikes(uow, now=msk(16, 14, 5), zone=MSK) == []


class FakeMailer:
    def __init__(self) -> None:
        self.sent: list[tuple[list[str], str, str, list[Attachment]]] = []

    async def send(
        self, to: Sequence[str], subject: str, text: str, attachments: Sequence[Attachment]
    ) -> bool:
        self.sent.append((list(to), subject, text, list(attachments)))
        return True


async def test_monday_morning_queues_last_weeks_report_once(
    runtime: Runtime, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Scenario(runtime)
    t = await s.ticket(msk(17, 10), channel="api")
    await s.reply(t, msk(17, 10, 20))
    for at in (msk(23, 7, 30), msk(23, 8, 10), msk(23, 9, 10), msk(24, 8, 10)):
        async with runtime.db.uow() as uow:
            await tasks.run_hourly(uow, runtime.settings, now=at)
    async with runtime.db.uow() as uow:
        jobs = (await uow.session.scalars(select(Job).where(Job.task == tasks.WEEKLY_TASK))).all()
    assert len(jobs) == 1
    assert jobs[0].payload == {"start": msk(16, 0).isoformat(), "end": msk(23, 0).isoformat()}

    fake = FakeMailer()
    monkeypatch.setattr(tasks, "mailer", fake)
    async with runtime.db.uow() as uow:
        assert await tasks.send_weekly(uow, runtime.settings, start=msk(16, 0), end=msk(23, 0))
    [(to, subject, text, files)] = fake.sent
    assert sorted(to) == ["anna@shop.test", "sergey@shop.test"]
    assert "2026-03-16" in subject
    assert "created: 1" in text and "first_response_time: n=1, avg 20 min" in text
    created = next(f for f in files if f.filename == "created-by-team.csv")
    assert "total,total,1" in created.content.decode("utf-8-sig")
