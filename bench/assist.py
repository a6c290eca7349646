"""Similar solved tickets: is the first suggestion about the same thing, and how fast on a big desk.

Quality: two desks, each its own database, built from labelled customer messages:
  ru  ../shared/data/ru_support/dev.jsonl (out-of-scope messages left out);
  en  ../shared/data/bitext_customer_support (one message in 20, a fixed sample).
Messages are split by a hash of the text: half become solved tickets (the agent's reply names the
intent), the other half are new tickets asking for suggestions. A suggestion is right when the
solved ticket has the new ticket's intent. Reports the share of new tickets with a suggestion,
precision of the first suggestion, and "hit@3" (a right ticket among the three shown), over the
tickets that got one and over all.

Latency: a desk padded with --tickets solved tickets whose texts are random draws of the corpus
words (so common words are common), then the panel's similar-tickets call for the held-out
messages, each its own unit of work as a page request is. Reports p50/p99 in milliseconds.

Usage: .venv/bin/python bench/assist.py [--tickets 100000] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from opora.agents.models import Agent, Role
from opora.assist import service
from opora.auth.permissions import Principal
from opora.customers.models import Customer
from opora.db import Database
from opora.kit.text import words
from opora.kit.time import utcnow
from opora.migrate import upgrade
from opora.tickets.models import Message, Ticket

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
BATCH = 500


@dataclass(frozen=True, slots=True)
class Sample:
    text: str
    intent: str


def _train(text: str) -> bool:
    return hashlib.sha256(text.encode()).digest()[0] % 2 == 0


def load_ru(data: Path) -> list[Sample]:
    rows = [json.loads(line) for line in (data / "ru_support" / "dev.jsonl").read_text().splitlines() if line]
    return [Sample(r["text"], r["intent"]) for r in rows if r["intent"] not in ("out_of_scope", "oos")]


def load_en(data: Path) -> list[Sample]:
    path = data / "bitext_customer_support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [Sample(r["instruction"], r["intent"]) for i, r in enumerate(rows) if i % 20 == 0]


def _fresh_url(postgres: bool, tmp: Path, name: str) -> str:
    if not postgres:
        url = f"sqlite+aiosqlite:///{tmp / (name + '.db')}"
    else:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    upgrade(url)
    return url


async def _agent(db: Database) -> Principal:
    async with db.uow() as uow:
        agent = Agent(email="bench@shop.test", name="Bench", role=Role.ADMIN)
        uow.session.add(agent)
        await uow.session.flush()
        return Principal(agent.id, Role.ADMIN, frozenset(), "session")


async def add_tickets(db: Database, agent_id: int, texts: list[tuple[str, str | None]]) -> list[int]:
    """Tickets with one customer message each; with a reply text, replied to, solved and indexed."""
    ids: list[int] = []
    for start in range(0, len(texts), BATCH):
        chunk = texts[start : start + BATCH]
        async with db.uow() as uow:
            customer = Customer(name="Bench")
            uow.session.add(customer)
            await uow.session.flush()
            now = utcnow()
            tickets = [
                Ticket(
                    subject="",
                    status="solved" if reply else "open",
                    customer_id=customer.id,
                    solved_at=now if reply else None,
                )
                for _, reply in chunk
            ]
            uow.session.add_all(tickets)
            await uow.session.flush()
            for ticket, (text, reply) in zip(tickets, chunk, strict=True):
                uow.session.add(
                    Message(ticket_id=ticket.id, direction="in", author_type="customer", text=text)
                )
                if reply:
                    uow.session.add(
                        Message(
                            ticket_id=ticket.id,
                            direction="out",
                            author_type="agent",
                            author_agent_id=agent_id,
                            text=reply,
                        )
                    )
            await uow.session.flush()
            solved = [t.id for t, (_, reply) in zip(tickets, chunk, strict=True) if reply]
            await service.index_solved(uow, solved)
            ids.extend(t.id for t in tickets)
    return ids


async def quality(db: Database, principal: Principal, samples: list[Sample]) -> dict[str, float]:
    train = [s for s in samples if _train(s.text)]
    test = [s for s in samples if not _train(s.text)]
    await add_tickets(db, principal.agent_id, [(s.text, f"intent:{s.intent}") for s in train])
    asking = await add_tickets(db, principal.agent_id, [(s.text, None) for s in test])
    shown = first_right = any_right = 0
    for ticket_id, sample in zip(asking, test, strict=True):
        async with db.uow() as uow:
            found = await service.similar_tickets(uow, principal, ticket_id)
        if not found:
            continue
        shown += 1
        intents = [s.reply_text.removeprefix("intent:") for s in found]
        first_right += intents[0] == sample.intent
        any_right += sample.intent in intents
    return {
        "solved": len(train),
        "asked": len(test),
        "shown": shown / len(test),
        "p@1": first_right / max(1, shown),
        "hit@3": any_right / max(1, shown),
        "p@1_all": first_right / len(test),
    }


async def latency(
    db: Database, principal: Principal, ticket_ids: list[int], rounds: int
) -> tuple[float, float]:
    timings = []
    for _ in range(rounds):
        for ticket_id in ticket_ids:
            started = time.perf_counter()
            async with db.uow() as uow:
                await service.similar_tickets(uow, principal, ticket_id)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return statistics.median(timings), timings[max(0, int(len(timings) * 0.99) - 1)]


async def run(args: argparse.Namespace) -> None:
    backend = "postgres" if args.postgres else "sqlite"
    print(f"backend {backend}")
    desks = {"ru": load_ru(args.data), "en": load_en(args.data)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, samples in desks.items():
            db = Database(
                await asyncio.to_thread(_fresh_url, args.postgres, Path(tmp), f"opora_assist_{name}")
            )
            principal = await _agent(db)
            m = await quality(db, principal, samples)
            print(
                f"{name}: {m['solved']:.0f} solved, {m['asked']:.0f} asked  shown {m['shown']:.3f}  "
                f"p@1 {m['p@1']:.3f}  hit@3 {m['hit@3']:.3f}  (p@1 over all asked {m['p@1_all']:.3f})"
            )
            await db.dispose()
        if args.tickets:
            db = Database(
                await asyncio.to_thread(_fresh_url, args.postgres, Path(tmp), "opora_assist_latency")
            )
            principal = await _agent(db)
            corpus = desks["ru"] + desks["en"]
            vocabulary = [w for s in corpus for w in words(s.text)]
            rng = random.Random(7)
            started = time.perf_counter()
            padding = [
                (" ".join(rng.choices(vocabulary, k=rng.randint(6, 30))), "reply")
                for _ in range(args.tickets)
            ]
            await add_tickets(db, principal.agent_id, padding)
            print(f"padded with {args.tickets} solved tickets in {time.perf_counter() - started:.0f} s")
            asking = await add_tickets(
                db, principal.agent_id, [(s.text, None) for s in corpus[:: max(1, len(corpus) // 200)]]
            )
            await latency(db, principal, asking[:20], 1)  # warm-up
            p50, p99 = await latency(db, principal, asking, args.rounds)
            print(
                f"similar_tickets at {args.tickets} solved tickets ({len(asking) * args.rounds} calls): p50 {p50:.2f} ms  p99 {p99:.2f} ms"
            )
            await db.dispose()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--tickets", type=int, default=100_000, help="solved tickets for the latency run (0: skip)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help=f"run on PostgreSQL ({PG_ADMIN})")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    if not (args.data / "ru_support" / "dev.jsonl").exists():
        print(f"no data at {args.data}: the benchmark needs ../shared/data", file=sys.stderr)
        return 2
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
