"""Inbound pipeline throughput against the raw SQL limit, on SQLite and PostgreSQL.

For each backend, in one run:
  pipeline  N messages go through the real path: receive() stores each raw payload and queues its job
            (in transactions of --receive-batch payloads: 1 is a webhook, more is an IMAP poll),
            while one in-process worker parses, identifies the customer, threads, adds the message
            and writes the events. Latency is receipt → committed ticket, per message.
  raw SQL   the same rows (payload, customer + identity for new senders, ticket or ticket update,
            message, event, payload state) written by plain SQL statements, one transaction per
            message, no Python logic between them.

Usage: .venv/bin/python bench/ingest.py [-n 2000] [--receive-batch 1 20] [--backends sqlite postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.inbox.fake_channel import TYPE, FakeChat  # noqa: E402
from tests.support import services  # noqa: E402

from opora.channels import registry  # noqa: E402
from opora.channels.models import Channel  # noqa: E402
from opora.config import Settings  # noqa: E402
from opora.events import reactions  # noqa: E402
from opora.inbox import service as inbox  # noqa: E402
from opora.inbox.models import InboundPayload  # noqa: E402
from opora.jobs.worker import Worker  # noqa: E402
from opora.kit.time import utcnow  # noqa: E402
from opora.migrate import upgrade  # noqa: E402
from opora.runtime import Runtime, build_runtime  # noqa: E402

TEXTS = [
    "Здравствуйте! Заказ {n} оформлен неделю назад, статус не меняется. Подскажите, когда доставят? "
    "Трек-номер не отслеживается на сайте СДЭК, в приложении тоже пусто.",
    "Добрый день, хочу вернуть товар из заказа {n}: не подошёл размер. Как оформить возврат и когда "
    "вернутся деньги на карту?",
    "Hello, my order {n} arrived damaged, the lamp shade is broken. Can I get a replacement or a refund?",
    "Промокод не применяется к корзине, пишет что истёк, хотя акция до конца месяца. Заказ {n}.",
    "Списали деньги дважды за заказ {n}! Верните, пожалуйста, второе списание.",
]


@dataclass
class Result:
    backend: str
    mode: str
    messages: int
    seconds: float
    p50_ms: float | None = None
    p99_ms: float | None = None

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def workload(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """60% first messages of new customers, 40% replies in an existing conversation."""
    rng = random.Random(seed)
    bodies: list[dict[str, Any]] = []
    senders: list[str] = []
    for i in range(n):
        if senders and rng.random() < 0.4:
            sender = rng.choice(senders)
        else:
            sender = str(100_000 + i)
            senders.append(sender)
        bodies.append(
            {
                "id": f"m{i}",
                "from": sender,
                "name": f"Клиент {sender}",
                "text": rng.choice(TEXTS).format(n=10_000 + i),
            }
        )
    return bodies


async def fresh_database(backend: str, workdir: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / f'bench-{uuid.uuid4().hex[:6]}.db'}"
    else:
        name = f"opora_bench_{uuid.uuid4().hex[:8]}"
        url = await asyncio.to_thread(services.create_pg_database, name)
    await asyncio.to_thread(upgrade, url)
    return url, None if backend == "sqlite" else url.rsplit("/", 1)[1]


async def make_channel(runtime: Runtime) -> int:
    async with runtime.db.uow() as uow:
        channel = Channel(type=TYPE, name="bench", settings={}, secrets_encrypted="")
        uow.session.add(channel)
        await uow.session.flush()
        return channel.id


async def run_pipeline(
    backend: str, url: str, workdir: Path, bodies: list[dict[str, Any]], batch: int
) -> Result:
    settings = Settings(data_dir=workdir / "data", database_url=url, secret_key="bench", _env_file=None)  # type: ignore[call-arg]
    runtime = build_runtime(settings)
    await runtime.start()
    channel_id = await make_channel(runtime)
    worker = Worker(runtime, concurrency=1, poll_seconds=0.02)
    await worker.start()
    started = time.perf_counter()
    for offset in range(0, len(bodies), batch):
        async with runtime.db.uow() as uow:
            for body in bodies[offset : offset + batch]:
                await inbox.receive(
                    uow,
                    channel_id=channel_id,
                    external_id=body["id"],
                    payload=json.dumps(body).encode(),
                    content_type="application/json",
                )
    while True:
        async with runtime.db.uow() as uow:
            waiting = await uow.session.scalar(
                select(func.count()).select_from(InboundPayload).where(InboundPayload.state == "received")
            )
        if not waiting:
            break
        await asyncio.sleep(0.02)
    seconds = time.perf_counter() - started
    await worker.stop()
    async with runtime.db.uow() as uow:
        rows = (
            await uow.session.execute(select(InboundPayload.received_at, InboundPayload.processed_at))
        ).all()
    latencies = sorted((done - got).total_seconds() * 1000 for got, done in rows if done is not None)
    await runtime.close()
    return Result(
        backend,
        f"pipeline, receive batch {batch}",
        len(bodies),
        seconds,
        statistics.median(latencies),
        latencies[int(len(latencies) * 0.99) - 1],
    )


RAW = {
    "payload": "INSERT INTO inbound_payloads (channel_id, external_id, content_type, encoding, payload, state, "
    "attempts, received_at) VALUES (:ch, :ext, 'application/json', 'utf-8', :body, 'received', 0, :now) "
    "RETURNING id",
    "find": "SELECT customer_id FROM customer_identities WHERE kind = 'telegram' AND value = :sender",
    "customer": "INSERT INTO customers (name, custom_fields, created_at, updated_at) VALUES (:name, '{}', :now, :now) "
    "RETURNING id",
    "identity": "INSERT INTO customer_identities (customer_id, kind, value, created_at) "
    "VALUES (:cid, 'telegram', :sender, :now)",
    "latest": "SELECT id FROM tickets WHERE customer_id = :cid AND channel_id = :ch ORDER BY id DESC LIMIT 1",
    "ticket": "INSERT INTO tickets (subject, status, priority, channel_type, channel_id, customer_id, custom_fields, "
    "created_at, updated_at, status_changed_at) VALUES ('', 'new', 'normal', 'fakechat', :ch, :cid, '{}', "
    ":now, :now, :now) RETURNING id",
    "touch": "UPDATE tickets SET updated_at = :now, last_customer_message_at = :now WHERE id = :tid",
    "message": "INSERT INTO messages (ticket_id, direction, author_type, author_customer_id, is_internal, text, "
    "channel_type, channel_id, external_id, delivery_status, metadata, created_at) VALUES (:tid, 'in', "
    "'customer', :cid, false, :text, 'fakechat', :ch, :ext, 'received', '{}', :now) RETURNING id",
    "event": "INSERT INTO ticket_events (ticket_id, kind, actor_type, actor_id, data, created_at) "
    "VALUES (:tid, 'message_added', 'customer', :cid, '{}', :now)",
    "done": "UPDATE inbound_payloads SET state = 'processed', processed_at = :now WHERE id = :pid",
}


async def run_raw(backend: str, url: str, workdir: Path, bodies: list[dict[str, Any]]) -> Result:
    settings = Settings(data_dir=workdir / "data", database_url=url, secret_key="bench", _env_file=None)  # type: ignore[call-arg]
    runtime = build_runtime(settings)
    channel_id = await make_channel(runtime)
    latencies = []
    started = time.perf_counter()
    for body in bodies:
        t0 = time.perf_counter()
        now = utcnow() if backend == "postgres" else utcnow().isoformat(sep=" ")
        async with runtime.db.engine.begin() as conn:
            p = {
                "ch": channel_id,
                "ext": body["id"],
                "body": json.dumps(body),
                "now": now,
                "sender": body["from"],
                "name": body["name"],
                "text": body["text"],
            }
            pid = (await conn.execute(text(RAW["payload"]), p)).scalar_one()
            cid = (await conn.execute(text(RAW["find"]), p)).scalar()
            tid = None
            if cid is None:
                cid = (await conn.execute(text(RAW["customer"]), p)).scalar_one()
                await conn.execute(text(RAW["identity"]), {**p, "cid": cid})
            else:
                tid = (await conn.execute(text(RAW["latest"]), {**p, "cid": cid})).scalar()
            if tid is None:
                tid = (await conn.execute(text(RAW["ticket"]), {**p, "cid": cid})).scalar_one()
            else:
                await conn.execute(text(RAW["touch"]), {**p, "tid": tid})
            await conn.execute(text(RAW["message"]), {**p, "cid": cid, "tid": tid})
            await conn.execute(text(RAW["event"]), {**p, "cid": cid, "tid": tid})
            await conn.execute(text(RAW["done"]), {**p, "pid": pid})
        latencies.append((time.perf_counter() - t0) * 1000)
    seconds = time.perf_counter() - started
    await runtime.close()
    latencies.sort()
    return Result(
        backend,
        "raw SQL, 1 tx/message",
        len(bodies),
        seconds,
        statistics.median(latencies),
        latencies[int(len(latencies) * 0.99) - 1],
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--receive-batch", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument(
        "--without-reactor",
        action="append",
        default=[],
        metavar="NAME",
        help="leave out a registered reactor (e.g. customers.figures) to measure what it costs",
    )
    args = parser.parse_args()
    reactions.discover()
    unknown = set(args.without_reactor) - set(reactions.registered())
    if unknown:
        parser.error(f"no reactor named {sorted(unknown)[0]!r}; known: {', '.join(reactions.registered())}")
    reactions._registry[:] = [r for r in reactions._registry if r.name not in args.without_reactor]
    registry.register(TYPE, FakeChat)
    bodies = workload(args.n)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{args.n} messages, {sum(1 for b in bodies if int(b['from']) - 100_000 == int(b['id'][1:]))} new tickets"
    )
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for backend in args.backends:
            results = []
            drop = []
            url, name = await fresh_database(backend, workdir)
            drop.append(name)
            results.append(await run_raw(backend, url, workdir, bodies))
            for batch in args.receive_batch:
                url, name = await fresh_database(backend, workdir)
                drop.append(name)
                results.append(await run_pipeline(backend, url, workdir, bodies, batch))
            raw = results[0].rate
            for r in results:
                print(
                    f"{r.backend:9} {r.mode:28} {r.rate:8.0f} msg/s  p50 {r.p50_ms:7.1f} ms  p99 {r.p99_ms:7.1f} ms"
                    f"  {r.rate / raw:6.0%} of raw"
                )
            for name in drop:
                if name:
                    await asyncio.to_thread(services.drop_pg_database, name)


if __name__ == "__main__":
    asyncio.run(main())
