"""Where a knowledge-base search's wall time goes, per phase: each SQL statement, each PostgreSQL
round trip, the query's encoding (the hop into its thread, the encoding, the hop back), the
commit, garbage collections; wall and CPU per search. Written for issue 7's PostgreSQL tail
(ADR 41, update). It patches the code it measures from outside, so any version can be profiled
(``PYTHONPATH=<checkout>/src``).

The database is one kept by ``bench/kb_search.py --keep`` (10,000 articles); the queries are that
bench's latency queries. Prints mean/p50/max per phase over all searches and over the slowest
2 %, and the timelines of the six slowest; writes every search's events as JSON.

Usage: .venv/bin/python bench/kb_search_phases.py URL [ROUNDS] [OUT.json] [--off] [--data DIR]
       (--off: re-ranking off, the full-text search alone; --data as bench/kb_search.py's)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import kb_search as bench
from sqlalchemy import event

from opora import db as dbmod
from opora.db import Database
from opora.kb.search import semantic
from opora.kb.search import service as search

EVENTS: list[tuple[str, float, float]] = []  # (name, start, end) in perf_counter seconds
CPU: dict[str, float] = defaultdict(float)


def label(statement: str) -> str:
    s = " ".join(statement.split())[:400].lower()
    if s.startswith("insert into kb_search_log"):
        return "sql:log insert"
    if "ts_rank" in s:
        return "sql:rank"
    if "from kb_terms" in s:
        return "sql:vocabulary"
    if "kb_article_vectors" in s:
        return "sql:vectors stamp"
    if "count(*)" in s and "kb_search_docs" in s:
        return "sql:doc freqs"
    if "from kb_synonyms" in s:
        return "sql:synonyms"
    if "from kb_articles" in s:
        return "sql:articles"
    if s.startswith("select pg_catalog") or s.startswith("select 1"):
        return "sql:ping"
    return "sql:other " + s[:40]


def instrument(database: Database) -> None:
    import gc

    gc_start: list[float] = []

    def on_gc(phase, info):  # type: ignore[no-untyped-def]
        if phase == "start":
            gc_start.append(time.perf_counter())
        elif gc_start:
            EVENTS.append((f"gc gen{info['generation']}", gc_start.pop(), time.perf_counter()))

    gc.callbacks.append(on_gc)
    sync = database.engine.sync_engine

    @event.listens_for(sync, "before_cursor_execute")
    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        conn.info.setdefault("kbpg", []).append((time.perf_counter(), label(statement)))

    @event.listens_for(sync, "after_cursor_execute")
    def after(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        start, name = conn.info["kbpg"].pop()
        EVENTS.append((name, start, time.perf_counter()))

    @event.listens_for(sync, "begin")
    def begin(conn):  # type: ignore[no-untyped-def]
        EVENTS.append(("begin", time.perf_counter(), time.perf_counter()))

    import psycopg

    original_wait = psycopg.AsyncConnection.wait

    async def wait(self, gen, *args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return await original_wait(self, gen, *args, **kwargs)
        finally:
            EVENTS.append(("pg:round trip", start, time.perf_counter()))

    psycopg.AsyncConnection.wait = wait  # type: ignore[method-assign]

    original_commit = dbmod.UnitOfWork.commit

    async def commit(self):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        await original_commit(self)
        EVENTS.append(("commit", start, time.perf_counter()))

    dbmod.UnitOfWork.commit = commit  # type: ignore[method-assign]

    original_qv = semantic.query_vector

    async def query_vector(model, text):  # type: ignore[no-untyped-def]
        created = time.perf_counter()
        inner = model.encode

        class Timed:
            name = model.name

            def encode(self, texts):  # type: ignore[no-untyped-def]
                start, cpu = time.perf_counter(), time.thread_time()
                try:
                    return inner(texts)
                finally:
                    end = time.perf_counter()
                    EVENTS.append(("encode:thread", start, end))
                    EVENTS.append(("encode:hop in", created, start))
                    CPU["encode"] += time.thread_time() - cpu
                    EVENTS.append(("encode:cpu", 0.0, time.thread_time() - cpu))

        vector = await original_qv(Timed(), text)  # type: ignore[arg-type]
        EVENTS.append(("encode:back in loop", created, time.perf_counter()))
        return vector

    semantic.query_vector = query_vector  # type: ignore[assignment]

    original_find = search._find

    async def find(*args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return await original_find(*args, **kwargs)
        finally:
            EVENTS.append(("find", start, time.perf_counter()))

    search._find = find  # type: ignore[assignment]

    original_nearest = semantic.VectorIndex.nearest

    def nearest(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return original_nearest(self, *args, **kwargs)
        finally:
            EVENTS.append(("nearest", start, time.perf_counter()))

    semantic.VectorIndex.nearest = nearest  # type: ignore[method-assign]


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="a latency database kept by bench/kb_search.py --keep")
    parser.add_argument("rounds", nargs="?", type=int, default=2, help="passes over the queries")
    parser.add_argument("out", nargs="?", default="kb_search_phases.json", help="every search's events")
    parser.add_argument("--off", action="store_true", help="re-ranking off: the full-text search alone")
    parser.add_argument("--data", type=Path, default=bench.DATA, help="as bench/kb_search.py's")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("rounds must be at least 1")
    return args


async def main() -> None:
    args = options()
    rounds, on, data = args.rounds, not args.off, args.data
    semantic.configure(enabled=on)
    database = Database(args.url)
    instrument(database)
    ru = bench.load_ru(data)
    typed = [q.text[: max(3, len(q.text) // 3)] for q in ru.questions["test"][:40]]
    queries = [q.text for q in ru.questions["test"]] + ["возврат", "пвз", "возрват денег", *typed]
    for q in queries[:20]:
        async with database.uow() as uow:
            await search.search(uow, q, scope=search.public_scope("ru"), limit=10)
    searches = []
    main_thread = threading.get_ident()
    assert main_thread
    for _ in range(rounds):
        for q in queries:
            semantic.forget_query_vectors()
            EVENTS.clear()
            cpu0, lcpu0 = time.process_time(), time.thread_time()
            start = time.perf_counter()
            async with database.uow() as uow:
                await search.search(uow, q, scope=search.public_scope("ru"), limit=10)
            end = time.perf_counter()
            searches.append(
                {
                    "q": q,
                    "wall": (end - start) * 1000,
                    "cpu": (time.process_time() - cpu0) * 1000,
                    "loop cpu": (time.thread_time() - lcpu0) * 1000,
                    "events": [
                        (n, (s - start) * 1000, (e - s) * 1000) for n, s, e in EVENTS if n != "encode:cpu"
                    ]
                    + [(n, 0.0, e * 1000) for n, s, e in EVENTS if n == "encode:cpu"],
                }
            )
    await database.dispose()
    import json

    await asyncio.to_thread(Path(args.out).write_text, json.dumps(searches))
    walls = sorted(s["wall"] for s in searches)
    n = len(walls)
    p99 = walls[int(n * 0.99) - 1]
    print(
        f"{n} searches, re-ranking {'on' if on else 'off'}: wall p50 {statistics.median(walls):.2f} p99 {p99:.2f} ms"
    )
    cpus = sorted(s["cpu"] for s in searches)
    print(
        f"process CPU p50 {statistics.median(cpus):.2f} p99 {cpus[int(n * 0.99) - 1]:.2f}; loop-thread CPU p50 "
        f"{statistics.median(sorted(s['loop cpu'] for s in searches)):.2f}"
    )

    def phase_table(subset: list[dict], title: str) -> None:
        sums: dict[str, list[float]] = defaultdict(list)
        for s in subset:
            per: dict[str, float] = defaultdict(float)
            for name, _, dur in s["events"]:
                per[name] += dur
            for name in {e[0] for s2 in searches for e in s2["events"]}:
                sums[name].append(per.get(name, 0.0))
        print(
            f"-- {title} ({len(subset)} searches): mean ms per search of each phase (sum of its occurrences)"
        )
        for name in sorted(sums):
            values = sums[name]
            print(
                f"   {name:28s} mean {statistics.mean(values):7.2f}  p50 {statistics.median(values):7.2f}  max {max(values):7.2f}"
            )

    phase_table(searches, "all")
    slow = sorted(searches, key=lambda s: -s["wall"])[: max(5, n // 50)]
    phase_table(slow, "slowest 2%")
    print("-- the 6 slowest, timeline (ms from start: name start+duration)")
    for s in slow[:6]:
        print(f"  wall {s['wall']:.1f} cpu {s['cpu']:.1f} loop cpu {s['loop cpu']:.1f}  {s['q'][:50]!r}")
        for name, at, dur in sorted(s["events"], key=lambda e: e[1]):
            print(f"      {at:7.2f} +{dur:6.2f} {name}")


asyncio.run(main())
