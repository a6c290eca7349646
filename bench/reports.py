"""Reports and the live dashboard on PostgreSQL at scale: p50/p99 per report.

Generates N tickets spread over the last 365 days with their customers, two messages each and the
event rows the desk writes (created, customer message, agent reply, SLA clock fulfilments with
business seconds, solve; one ticket in ten reopened and solved again; one in fifty escalated; one
in ten still open), all by set-based SQL in the database itself, then runs each report R times.

Count and rate reports read the hourly counts (analytics/rollups.py) for the whole hours of their
span; each of them also runs with the facts alone ("facts only"), alternating with the other run,
so the two are measured under the same load. Beside wall time: the CPU the database server spent
per run (its backends' utime + stime from /proc, in 10 ms ticks, so a mean) and this process's
CPU (time.process_time), which load barely changes.

Usage: .venv/bin/python bench/reports.py [--tickets 50000] [--repeat 20] [--keep]
       .venv/bin/python bench/reports.py --tickets 1000000 --keep   # the issue's size
       .venv/bin/python bench/reports.py --database opora_bench_reports_xxxx  # reuse a kept one
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text, update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import services  # noqa: E402

from opora.analytics import facts, percentiles, rollups, service  # noqa: E402
from opora.analytics import repository as repo  # noqa: E402
from opora.analytics.buckets import edges_sql  # noqa: E402
from opora.analytics.definitions import Dimension, Filters, Metric  # noqa: E402
from opora.analytics.service import ReportQuery  # noqa: E402
from opora.config import Settings  # noqa: E402
from opora.kit.time import utcnow  # noqa: E402
from opora.migrate import upgrade  # noqa: E402
from opora.runtime import Runtime, build_runtime  # noqa: E402
from opora.tickets.models import Ticket  # noqa: E402

TZ = "Europe/Moscow"

GENERATE = [
    "SELECT setseed(0.42)",
    "INSERT INTO teams (id, name, description, created_at) SELECT g, 'Team ' || g, '', now() FROM generate_series(1, 4) g",
    """INSERT INTO agents (id, email, name, role, language, timezone, presence, is_active, created_at, updated_at)
       SELECT g, 'agent' || g || '@bench.test', 'Agent ' || g, 'agent', 'ru', 'Europe/Moscow',
              CASE WHEN g % 3 = 0 THEN 'offline' ELSE 'online' END, true, now(), now()
       FROM generate_series(1, 40) g""",
    """CREATE TEMP TABLE bt AS
       SELECT *, frt_min + solve_after_min AS res_min FROM (
       SELECT g AS id,
              now() - random() * interval '365 days' AS created_at,
              (1 + random() * 240)::int AS frt_min,
              (30 + random() * 2000)::int AS solve_after_min,
              random() AS r_status, random() AS r_reopen, random() AS r_esc,
              1 + (random() * 3)::int AS team_id, 1 + (random() * 39)::int AS agent_id,
              (ARRAY['email','telegram','webchat','whatsapp','api'])[1 + (random() * 4)::int] AS channel,
              (ARRAY['low','normal','normal','high','urgent'])[1 + (random() * 4)::int] AS priority,
              (ARRAY['delivery','payment','refund','promo','account','quality','size','address','tracking','other'])
                [1 + (random() * 9)::int] AS topic
       FROM generate_series(1, :n) g) s""",
    """INSERT INTO customers (id, name, segment, custom_fields, orders_count, total_spent_minor, created_at, updated_at)
       SELECT id, 'Customer ' || id, CASE WHEN id % 20 = 0 THEN 'vip' END, '{}', 0, 0, created_at, created_at
       FROM bt""",
    """INSERT INTO tickets (id, subject, status, priority, channel_type, team_id, assignee_id, customer_id, topic,
                           custom_fields, created_at, updated_at, status_changed_at, first_response_at, solved_at)
       SELECT id, 'Bench ' || id,
              CASE WHEN r_status < 0.05 THEN 'open' WHEN r_status < 0.08 THEN 'pending'
                   WHEN r_status < 0.10 THEN 'new' WHEN r_status < 0.6 THEN 'closed' ELSE 'solved' END,
              priority, channel, team_id, agent_id, id, topic, '{}', created_at, created_at, created_at,
              created_at + frt_min * interval '1 minute',
              CASE WHEN r_status >= 0.10 THEN created_at + res_min * interval '1 minute' END
       FROM bt""",
    """INSERT INTO messages (ticket_id, direction, author_type, author_customer_id, is_internal, text, channel_type,
                            delivery_status, metadata, created_at)
       SELECT id, 'in', 'customer', id, false, 'Где мой заказ ' || id || '?', channel, 'received', '{}'::jsonb, created_at
       FROM bt
       UNION ALL
       SELECT id, 'out', 'agent', NULL, false, 'Ваш заказ в пути.', channel, 'sent', '{}'::jsonb,
              created_at + frt_min * interval '1 minute'
       FROM bt WHERE r_status >= 0.10 OR r_status < 0.05""",
    """INSERT INTO ticket_events (ticket_id, kind, actor_type, data, created_at)
       SELECT id, 'ticket_created', 'customer', '{}'::jsonb, created_at FROM bt
       UNION ALL
       SELECT id, 'message_added', 'customer', '{"direction": "in", "internal": false, "author_type": "customer"}'::jsonb,
              created_at FROM bt
       UNION ALL
       SELECT id, 'message_added', 'agent', '{"direction": "out", "internal": false, "author_type": "agent"}'::jsonb,
              created_at + frt_min * interval '1 minute' FROM bt WHERE r_status >= 0.10 OR r_status < 0.05
       UNION ALL
       SELECT id, 'sla_fulfilled', 'system',
              jsonb_build_object('metric', 'first_response', 'reason', 'reply',
                                 'elapsed_seconds', frt_min * 45, 'breached', frt_min > 120),
              created_at + frt_min * interval '1 minute' FROM bt WHERE channel = 'email' AND r_status >= 0.10
       UNION ALL
       SELECT id, 'status_changed', 'agent', '{"status": {"old": "open", "new": "solved"}}'::jsonb,
              created_at + res_min * interval '1 minute' FROM bt WHERE r_status >= 0.10
       UNION ALL
       SELECT id, 'sla_fulfilled', 'system',
              jsonb_build_object('metric', 'resolution', 'reason', 'solved',
                                 'elapsed_seconds', res_min * 40, 'breached', res_min > 1500),
              created_at + res_min * interval '1 minute' FROM bt WHERE channel = 'email' AND r_status >= 0.10
       UNION ALL
       SELECT id, 'status_changed', 'customer', '{"status": {"old": "solved", "new": "open"}}'::jsonb,
              created_at + (res_min + 60) * interval '1 minute' FROM bt WHERE r_status >= 0.10 AND r_reopen < 0.1
       UNION ALL
       SELECT id, 'status_changed', 'agent', '{"status": {"old": "open", "new": "solved"}}'::jsonb,
              created_at + (res_min + 120) * interval '1 minute' FROM bt WHERE r_status >= 0.10 AND r_reopen < 0.1
       UNION ALL
       SELECT id, 'escalated', 'agent', '{"reason": "L2"}'::jsonb, created_at + interval '5 minutes'
       FROM bt WHERE r_esc < 0.02
       ORDER BY 5""",
    """INSERT INTO ticket_sla (ticket_id, metric, target_seconds, business, warning_percent, started_at,
                              running_since, due_at, elapsed_seconds, updated_at)
       SELECT id, 'resolution', 28800, true, 80, created_at, created_at,
              created_at + (CASE WHEN id % 2 = 0 THEN 1 ELSE 200 END) * interval '1 hour', 0, created_at
       FROM bt WHERE r_status < 0.05 AND channel = 'email'""",
    """INSERT INTO ticket_sla (ticket_id, metric, target_seconds, business, warning_percent, started_at,
                              elapsed_seconds, fulfilled_at, updated_at)
       SELECT id, m, 3600, true, 80, created_at, 1, created_at, created_at
       FROM bt, (VALUES ('first_response'), ('resolution')) AS metrics(m)
       WHERE channel = 'email' AND r_status >= 0.10""",
    # The facts those events give (analytics/facts.py), by the same rules in set-based SQL; the run
    # then checks a sample of tickets against the Python definition.
    """INSERT INTO ticket_facts (ticket_id, kind, at, until, value, bucket, ok, first_contact, team_id,
                                assignee_id, customer_id, channel_type, topic, priority)
       SELECT id, k, at, until, value, width_bucket(value, EDGES), ok, fc, team_id, agent_id, id, channel,
              topic, priority FROM (
         SELECT id, 'created' AS k, created_at AS at, NULL::timestamptz AS until, NULL::float AS value,
                (r_esc < 0.02)::int AS ok, NULL::int AS fc, team_id, agent_id, channel, topic, priority
         FROM bt
         UNION ALL
         SELECT id, 'first_response', created_at + frt_min * interval '1 minute', NULL,
                CASE WHEN channel = 'email' AND r_status >= 0.10 THEN frt_min * 45 ELSE frt_min * 60 END,
                0, NULL, team_id, agent_id, channel, topic, priority
         FROM bt WHERE r_status >= 0.10 OR r_status < 0.05
         UNION ALL
         SELECT id, 'solve', created_at + res_min * interval '1 minute',
                CASE WHEN r_reopen < 0.1 THEN created_at + (res_min + 120) * interval '1 minute' END,
                CASE WHEN channel = 'email' THEN res_min * 40 ELSE res_min * 60 END,
                (r_reopen < 0.1)::int, 1, team_id, agent_id, channel, topic, priority
         FROM bt WHERE r_status >= 0.10
         UNION ALL
         SELECT id, 'solve', created_at + (res_min + 120) * interval '1 minute', NULL,
                CASE WHEN channel = 'email' THEN res_min * 40 ELSE (res_min + 120) * 60 END,
                1, 0, team_id, agent_id, channel, topic, priority
         FROM bt WHERE r_status >= 0.10 AND r_reopen < 0.1
         UNION ALL
         SELECT id, 'sla_first_response', created_at + frt_min * interval '1 minute', NULL, NULL,
                (frt_min <= 120)::int, NULL, team_id, agent_id, channel, topic, priority
         FROM bt WHERE channel = 'email' AND r_status >= 0.10
         UNION ALL
         SELECT id, 'sla_resolution', created_at + res_min * interval '1 minute', NULL, NULL,
                (res_min <= 1500)::int, NULL, team_id, agent_id, channel, topic, priority
         FROM bt WHERE channel = 'email' AND r_status >= 0.10
       ) f ORDER BY at""".replace("EDGES", str(edges_sql())),
    "SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT max(id) FROM tickets))",
    "SELECT setval(pg_get_serial_sequence('customers', 'id'), (SELECT max(id) FROM customers))",
    # A live desk is vacuumed by autovacuum; a fresh bulk load is not until it runs.
    "VACUUM ANALYZE",
]


async def generate(runtime: Runtime, tickets: int) -> float:
    started = time.perf_counter()
    async with runtime.db.engine.begin() as conn:
        for statement in GENERATE[:-1]:
            step = time.perf_counter()
            await conn.execute(text(statement), {"n": tickets} if ":n" in statement else {})
            print(f"#   {time.perf_counter() - step:7.1f} s  {' '.join(statement.split())[:70]}", flush=True)
    await count_hours(runtime)
    async with runtime.db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(GENERATE[-1]))
    return time.perf_counter() - started


async def count_hours(runtime: Runtime) -> None:
    """The hourly counts of the generated facts, as `opora facts hours` (or migration 0022's job)
    builds them."""
    step = time.perf_counter()
    async with runtime.db.uow() as uow:
        rows = await rollups.rebuild(uow.session)
    print(f"#   {time.perf_counter() - step:7.1f} s  hourly counts rebuilt: {rows:,} rows", flush=True)


def reports(now_span: tuple[object, object]) -> list[tuple[str, ReportQuery]]:
    start, end = now_span
    last30 = (start, end)
    cases = [
        ("created by day, 30 d", Metric.CREATED, Dimension.DAY),
        ("first response by team, 30 d", Metric.FIRST_RESPONSE, Dimension.TEAM),
        ("next response total, 30 d", Metric.NEXT_RESPONSE, Dimension.TOTAL),
        ("full resolution by day, 30 d", Metric.RESOLUTION, Dimension.DAY),
        ("FCR by agent, 30 d", Metric.FCR, Dimension.AGENT),
        ("reopen rate by channel, 30 d", Metric.REOPEN, Dimension.CHANNEL),
        ("SLA first response by priority, 30 d", Metric.SLA_FIRST_RESPONSE, Dimension.PRIORITY),
        ("escalation rate by topic, 30 d", Metric.ESCALATION, Dimension.TOPIC),
        ("SLA resolution by team, 30 d", Metric.SLA_RESOLUTION, Dimension.TEAM),
        ("solved by segment, 30 d", Metric.SOLVED, Dimension.SEGMENT),
        ("backlog by team (now)", Metric.BACKLOG, Dimension.TEAM),
    ]
    year = (end - timedelta(days=365), end)  # type: ignore[operator]
    longer = [
        ("created by month, 365 d", Metric.CREATED, Dimension.MONTH),
        ("first response by week, 365 d", Metric.FIRST_RESPONSE, Dimension.WEEK),
        ("full resolution by team, 365 d", Metric.RESOLUTION, Dimension.TEAM),
    ]
    return [(name, ReportQuery(m, *last30, d, Filters())) for name, m, d in cases] + [  # type: ignore[arg-type]
        (name, ReportQuery(m, *year, d, Filters()))
        for name, m, d in longer  # type: ignore[arg-type]
    ]


async def check_sample(runtime: Runtime, size: int) -> tuple[int, int, float]:
    """Stored facts of a random sample against analytics/facts.py: (checked, wrong, tickets/s)."""
    async with runtime.db.engine.connect() as conn:
        sample = list(
            (
                await conn.execute(text("SELECT id FROM tickets ORDER BY random() LIMIT :n"), {"n": size})
            ).scalars()
        )
    async with runtime.db.uow() as uow:
        wrong = await facts.differences(uow.session, sample)
    # The backfill's speed: recompute (and replace) the facts of the same sample.
    started = time.perf_counter()
    async with runtime.db.uow() as uow:
        for i in range(0, len(sample), 1000):
            await facts.refresh(uow.session, sample[i : i + 1000])
    return len(sample), len(wrong), len(sample) / (time.perf_counter() - started)


class _Undo(Exception):
    """Ends a measured transaction by rolling it back."""


async def refresh_cost(runtime: Runtime, sample: list[int], repeat: int) -> tuple[Timing, Timing]:
    """A reassignment's facts refresh (the reactor's hook) in one transaction, rolled back: with the
    hourly counts kept, and with the facts alone (no read of the old facts, no counts), in turns."""
    tickets = iter(sample * 2)
    stored, apply = facts.stored, rollups.apply

    async def reassign() -> None:
        ticket_id = next(tickets)
        try:
            async with runtime.db.uow() as uow:
                await uow.session.execute(
                    update(Ticket).where(Ticket.id == ticket_id).values(assignee_id=1 + ticket_id % 39)
                )
                await facts.refresh(uow.session, [ticket_id])
                raise _Undo
        except _Undo:
            pass

    async def facts_alone() -> None:
        async def nothing(*args: object) -> list[object]:
            return []

        facts.stored, rollups.apply = nothing, nothing  # type: ignore[assignment]
        try:
            await reassign()
        finally:
            facts.stored, rollups.apply = stored, apply  # type: ignore[assignment]

    kept, alone = await timed(runtime, [reassign, facts_alone], repeat)
    return kept, alone


TICK = os.sysconf("SC_CLK_TCK")


async def server_cpu(runtime: Runtime) -> float:
    """Seconds of CPU the bench database's server processes have used (Linux /proc)."""
    async with runtime.db.engine.connect() as conn:
        pids = list(
            (
                await conn.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
                )
            ).scalars()
        )
    return _cpu_of(pids)


def _cpu_of(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a backend that has just ended
        total += int(fields[11]) + int(fields[12])
    return total / TICK


@dataclass
class Timing:
    wall: list[float] = field(default_factory=list)
    server: list[float] = field(default_factory=list)
    client: list[float] = field(default_factory=list)

    def line(self) -> str:
        ordered = sorted(self.wall)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        return (
            f"p50 {statistics.median(ordered):8.1f} ms   p99 {p99:8.1f} ms   "
            f"cpu db {statistics.fmean(self.server):7.1f} ms  py {statistics.fmean(self.client):6.1f} ms"
        )


async def _once(runtime: Runtime, fn: Callable[[], Awaitable[object]], timing: Timing) -> None:
    cpu = await server_cpu(runtime)
    own = time.process_time()
    started = time.perf_counter()
    await fn()
    timing.wall.append((time.perf_counter() - started) * 1000)
    timing.client.append((time.process_time() - own) * 1000)
    timing.server.append((await server_cpu(runtime) - cpu) * 1000)


async def timed(runtime: Runtime, fns: list[Callable[[], Awaitable[object]]], repeat: int) -> list[Timing]:
    """Each function ``repeat`` times, taking turns, after one warm-up run of each."""
    for fn in fns:
        await fn()  # warm the cache and the plan
    timings = [Timing() for _ in fns]
    for _ in range(repeat):
        for fn, timing in zip(fns, timings, strict=True):
            await _once(runtime, fn, timing)
    return timings


async def measure_reports(runtime: Runtime, only: list[str] | None, repeat: int) -> None:
    """Each report, taking turns with the same report read another way: count and rate reports
    with the facts alone (no hourly counts), duration reports with ``percentile_cont``'s sort
    (``repository.aggregate_sorted``) instead of the bucketed selection; same numbers asserted."""
    now = utcnow()
    planned, selected = rollups.plan, percentiles.aggregate_pg

    async def sorting(*args: Any, span: object = None, **kwargs: Any) -> list[repo.Aggregate]:
        return await repo.aggregate_sorted(*args, **kwargs)

    for label, query in reports((now - timedelta(days=30), now)):
        if only and not any(part in label for part in only):
            continue

        async def run(q: ReportQuery = query) -> object:
            async with runtime.db.uow() as uow:
                return await service.report(uow, q, timezone=TZ, now=now)

        zone = ZoneInfo(TZ)
        counted = planned(query.metric, query.start, query.end, query.dimension, query.filters, zone)

        async def other(q: ReportQuery = query, counted: object = counted) -> object:
            if counted is None:
                percentiles.aggregate_pg = sorting  # type: ignore[assignment]
            else:
                rollups.plan = lambda *a: None  # type: ignore[assignment]
            try:
                return await run(q)
            finally:
                rollups.plan, percentiles.aggregate_pg = planned, selected  # type: ignore[assignment]

        new, old = await timed(runtime, [run, other], repeat)
        same = await run() == await other()
        print(f"{label:40s} {new.line()}", flush=True)
        what = "  (percentile_cont sort)" if counted is None else "  (facts only)"
        print(f"{what:40s} {old.line()}   same numbers: {same}", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--check", type=int, default=5000, help="tickets whose facts are checked")
    parser.add_argument(
        "--database", help="a database kept by an earlier run (--keep): migrate it and measure again"
    )
    parser.add_argument(
        "--only-writes", action="store_true", help="measure the facts refresh, not the reports"
    )
    parser.add_argument(
        "--only",
        action="append",
        help="measure only the reports whose name holds this text (repeatable); skips the facts "
        "check, the refresh and the dashboard",
    )
    args = parser.parse_args()

    reuse = args.database is not None
    name = args.database or f"opora_bench_reports_{uuid.uuid4().hex[:8]}"
    url = (
        f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}" if reuse else services.create_pg_database(name)
    )
    try:
        await asyncio.to_thread(upgrade, url)
        runtime = build_runtime(Settings(database_url=url, data_dir=Path("/tmp") / name))
        await runtime.start()
        try:
            seconds = 0.0
            # With --only-writes the counts of the earlier run stand: facts and counts move together.
            if reuse and not args.only_writes and not args.only:
                await count_hours(runtime)
                async with runtime.db.engine.connect() as conn:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                    await conn.execute(text("VACUUM ANALYZE"))
            elif not reuse:
                seconds = await generate(runtime, args.tickets)
            async with runtime.db.engine.connect() as conn:
                args.tickets = (await conn.execute(text("SELECT count(*) FROM tickets"))).scalar_one()
                events = (await conn.execute(text("SELECT count(*) FROM ticket_events"))).scalar_one()
                messages = (await conn.execute(text("SELECT count(*) FROM messages"))).scalar_one()
            print(
                f"# {platform.node()} {platform.python_version()} PostgreSQL, {args.tickets:,} tickets, "
                f"{messages:,} messages, {events:,} events; generated in {seconds:.1f} s; R={args.repeat}"
            )
            print(f"# load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
            if args.only:
                await measure_reports(runtime, args.only, args.repeat)
                return
            checked, wrong, speed = await check_sample(runtime, args.check)
            print(
                f"# facts of {checked:,} random tickets checked against their events: {wrong} differ; "
                f"recomputed at {speed:,.0f} tickets/s",
                flush=True,
            )
            async with runtime.db.engine.connect() as conn:
                some = list(
                    (await conn.execute(text("SELECT id FROM tickets ORDER BY random() LIMIT 200"))).scalars()
                )
            kept, alone = await refresh_cost(runtime, some, min(len(some) // 2, 4 * args.repeat))
            print(f"{'reassignment, facts + hourly counts':40s} {kept.line()}", flush=True)
            print(f"{'reassignment, facts alone':40s} {alone.line()}", flush=True)

            async def board() -> object:
                async with runtime.db.uow() as uow:
                    return await service.dashboard(uow, timezone=TZ, now=utcnow())

            if args.only_writes:
                return
            (timing,) = await timed(runtime, [board], args.repeat)
            print(f"{'live dashboard':40s} {timing.line()}", flush=True)
            print(f"# database {name}", flush=True)
            await measure_reports(runtime, None, args.repeat)
        finally:
            await runtime.close()
    finally:
        if not args.keep and not reuse:
            services.drop_pg_database(name)


if __name__ == "__main__":
    asyncio.run(main())
