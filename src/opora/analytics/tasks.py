"""Jobs: the weekly report to managers, the hourly check for topic spikes, the facts backfill and
the rebuild of the hourly counts.

Both run hourly. The scheduler fires each hourly run exactly once across all processes, so the
run that lands in Monday's 08:00 hour (desk time) sends last week's report, and every run checks
the hour that has just ended for spikes: no table is needed to remember what was done. A desk that
is down for the whole of that hour skips that week's email; the report stays in the reports area.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from opora.analytics import exports, facts, rollups, service
from opora.analytics import repository as repo
from opora.analytics.definitions import (
    Dimension,
    Kind,
    Metric,
    bucket_start,
    is_spike,
    local_to_utc,
    usual_level,
)
from opora.analytics.mail import Attachment, Mailer, SmtpMailer
from opora.analytics.service import ReportQuery
from opora.config import Settings
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.service import SYSTEM
from opora.jobs.registry import JobContext, periodic, task
from opora.jobs.service import enqueue
from opora.kit.time import utcnow

log = logging.getLogger(__name__)

HOURLY_TASK = "analytics.hourly"
WEEKLY_TASK = "analytics.weekly_report"
REPORT_HOUR = 8
HISTORY_WEEKS = 4
WEEKLY_METRICS = (
    Metric.CREATED,
    Metric.SOLVED,
    Metric.FIRST_RESPONSE,
    Metric.RESOLUTION,
    Metric.FCR,
    Metric.REOPEN,
    Metric.SLA_FIRST_RESPONSE,
    Metric.ESCALATION,
    Metric.CSAT,
)

# Tests put a fake here; the default sends through OPORA_REPORTS_SMTP_*.
mailer: Mailer = SmtpMailer()


@periodic(HOURLY_TASK, every=timedelta(hours=1), max_attempts=3, timeout=300)
async def hourly(ctx: JobContext, payload: dict[str, Any]) -> None:
    await run_hourly(ctx.uow, ctx.runtime.settings, now=utcnow())


async def run_hourly(uow: UnitOfWork, settings: Settings, *, now: datetime) -> None:
    zone = ZoneInfo(settings.default_timezone)
    local = now.astimezone(zone)
    if local.weekday() == 0 and local.hour == REPORT_HOUR:
        week_end = local_to_utc(bucket_start(now, Dimension.WEEK, zone), zone)
        week_start = week_end - timedelta(days=7)
        await enqueue(
            uow,
            WEEKLY_TASK,
            {"start": week_start.isoformat(), "end": week_end.isoformat()},
            unique_key=f"{WEEKLY_TASK}:{week_start.date().isoformat()}",
        )
    await detect_spikes(uow, now=now, zone=zone)


# -- spikes ----------------------------------------------------------------------------------------


async def detect_spikes(uow: UnitOfWork, *, now: datetime, zone: ZoneInfo) -> list[str]:
    """Compare each topic's tickets of the hour that just ended with the same weekday and hour of
    the last weeks; tell supervisors about each spike. Returns the topics that spiked."""
    end = local_to_utc(bucket_start(now, Dimension.HOUR, zone), zone)
    start = end - timedelta(hours=1)
    current = await repo.topic_counts(uow.session, start, end)
    if not current:
        return []
    history: dict[str, list[int]] = {topic: [] for topic in current}
    for week in range(1, HISTORY_WEEKS + 1):
        back = timedelta(weeks=week)
        earlier = await repo.topic_counts(uow.session, start - back, end - back)
        for topic in current:
            history[topic].append(earlier.get(topic, 0))
    managers = [agent_id for agent_id, _, _ in await repo.managers(uow.session)]
    spiking = sorted(t for t, n in current.items() if is_spike(n, history[t]))
    for topic in spiking:
        ticket_id = await repo.newest_ticket_of_topic(uow.session, topic, start, end)
        if ticket_id is None or not managers:
            continue
        usual = usual_level(history[topic])
        text = (
            f"Всплеск обращений / Spike: «{topic}» — {current[topic]} за час / in an hour "
            f"(обычно / usually {usual:.1f})"
        )
        # The notifications module turns this event into a notification for each manager.
        await events.record(
            uow,
            ticket_id=ticket_id,
            kind="rule_notification",
            actor=SYSTEM,
            data={
                "agent_ids": managers,
                "text": text,
                "source": "analytics.spike",
                "topic": topic,
                "count": current[topic],
                "usual": round(usual, 2),
                "hour": start.isoformat(),
            },
        )
        log.warning("topic spike", extra={"topic": topic, "count": current[topic], "usual": usual})
    return spiking


# -- weekly report ---------------------------------------------------------------------------------


@task(WEEKLY_TASK, max_attempts=5, timeout=600)
async def weekly_report(ctx: JobContext, payload: dict[str, Any]) -> None:
    await send_weekly(
        ctx.uow,
        ctx.runtime.settings,
        start=datetime.fromisoformat(payload["start"]),
        end=datetime.fromisoformat(payload["end"]),
    )


def _figure(kind: Kind, stats: Any) -> str:
    if stats.count == 0 and kind != Kind.COUNT:
        return "—"
    if kind == Kind.RATE:
        return f"{stats.rate:.1%} ({stats.hits}/{stats.count})"
    if kind == Kind.DURATION:
        median = f"{stats.median / 60:.0f}" if stats.median is not None else "-"
        return f"n={stats.count}, avg {stats.average / 60:.0f} min, median {median} min"
    if kind == Kind.SCORE:
        return f"{stats.rate:.1%} ({stats.hits}/{stats.count}), avg {stats.average:.2f}"
    return str(stats.count)


async def send_weekly(uow: UnitOfWork, settings: Settings, *, start: datetime, end: datetime) -> bool:
    recipients = [email for _, email, _ in await repo.managers(uow.session)]
    if not recipients:
        return False
    tz = settings.default_timezone
    first = start.astimezone(ZoneInfo(tz)).date()
    last = (end.astimezone(ZoneInfo(tz)) - timedelta(days=1)).date()
    lines = [
        f"Opora: отчёт за неделю / weekly report, {first} – {last}",
        "",
    ]
    files = []
    for metric in WEEKLY_METRICS:
        query = ReportQuery(metric, start, end, Dimension.TEAM)
        out = await service.report_out(
            uow, await service.report(uow, query, timezone=tz, now=end), timezone=tz
        )
        lines.append(f"{metric.value}: {_figure(out.kind, out.total)}")
        files.append(Attachment(f"{metric.value}-by-team.csv", exports.to_csv(out), "text", "csv"))
    subject = f"Opora weekly report {first} – {last}"
    return await mailer.send(recipients, subject, "\n".join(lines) + "\n", files)


# -- backfill of ticket_facts ----------------------------------------------------------------------
# Tickets whose events came before the facts table get their facts by id, one batch per job and
# transaction, each job queueing the next with the last id it reached: a crash repeats at most one
# batch, and a batch is idempotent (it replaces a ticket's facts). Migration 0020 queues the first
# job on a desk that already has tickets.

BACKFILL_TASK = "analytics.backfill_facts"
BACKFILL_BATCH = 1000


@task(BACKFILL_TASK, max_attempts=10, timeout=600)
async def backfill(ctx: JobContext, payload: dict[str, Any]) -> None:
    await backfill_step(
        ctx.uow, after=int(payload.get("after", 0)), size=int(payload.get("size", BACKFILL_BATCH))
    )


async def backfill_step(uow: UnitOfWork, *, after: int, size: int = BACKFILL_BATCH) -> int | None:
    """One batch, then the job for the next; returns the last ticket id done (None at the end)."""
    if size < 1:
        raise ValueError("a batch holds at least one ticket")
    done = await facts.backfill_batch(uow.session, after=after, size=size)
    if done.last_id is None:
        log.info("ticket facts backfilled up to ticket %s", after)
        return None
    await enqueue(
        uow,
        BACKFILL_TASK,
        {"after": done.last_id, "size": size},
        unique_key=f"{BACKFILL_TASK}:{done.last_id}",
    )
    return done.last_id


# -- the hourly counts -------------------------------------------------------------------------------
# Migration 0022 queues one rebuild on a desk that has facts; from then on every change of facts
# moves the counts in its own transaction.

REBUILD_HOURS_TASK = "analytics.rebuild_fact_hours"


@task(REBUILD_HOURS_TASK, max_attempts=10, timeout=3600)
async def rebuild_hours(ctx: JobContext, payload: dict[str, Any]) -> None:
    rows = await rollups.rebuild(ctx.uow.session)
    log.info("hourly fact counts rebuilt: %s rows", rows)
