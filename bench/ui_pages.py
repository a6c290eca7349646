"""Server time of the workspace's two busiest pages: the inbox and the ticket page.

Loads the demo shop, then (with --extra N) adds N more tickets so that the inbox's keyset pages can
be seen to stay flat on a large desk. Requests go through the ASGI app in-process (no network), with
the admin's session cookie, so the figure is the server's own time: routing, queries, rendering.

Usage: .venv/bin/python bench/ui_pages.py [--runs 200] [--extra 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.factories import session_for  # noqa: E402
from tests.support.settings import settings_for  # noqa: E402

from opora.agents.models import Agent, Role  # noqa: E402
from opora.app import create_app  # noqa: E402
from opora.customers.service import find_or_create_by_identity  # noqa: E402
from opora.demo import load_demo  # noqa: E402
from opora.events.service import SYSTEM  # noqa: E402
from opora.migrate import upgrade  # noqa: E402
from opora.runtime import Runtime, build_runtime  # noqa: E402
from opora.tickets import service as tickets_service  # noqa: E402
from opora.tickets.models import Ticket  # noqa: E402


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _time(http: httpx.AsyncClient, url: str, runs: int, cookie: str) -> tuple[float, float]:
    headers = {"Cookie": f"opora_session={cookie}"}
    for _ in range(5):  # warm caches and the template compiler
        assert (await http.get(url, headers=headers)).status_code == 200
    spent = []
    for _ in range(runs):
        started = time.perf_counter()
        response = await http.get(url, headers=headers)
        spent.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return statistics.median(spent), _percentile(spent, 0.99)


async def _add_tickets(runtime: Runtime, count: int) -> None:
    for start in range(0, count, 500):
        async with runtime.db.uow() as uow:
            for n in range(start, min(count, start + 500)):
                customer = await find_or_create_by_identity(
                    uow, "email", f"bench{n}@example.com", name=f"Покупатель {n}"
                )
                await tickets_service.open_ticket(
                    uow,
                    actor=SYSTEM,
                    customer=customer,
                    subject=f"Вопрос по заказу {n}",
                    channel_type="email",
                    channel_id=None,
                )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--extra", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(upgrade, url)
        runtime = build_runtime(settings_for(Path(tmp) / "data", url))
        await runtime.start()
        await load_demo(runtime)
        async with runtime.db.uow() as uow:
            admin = (await uow.session.scalars(select(Agent).where(Agent.role == Role.ADMIN))).first()
            ticket_id = (await uow.session.scalars(select(Ticket.id).order_by(Ticket.id.desc()))).first()
        assert admin is not None
        assert ticket_id is not None
        cookie, _csrf = await session_for(runtime, admin)
        app = create_app(runtime, run_worker=False)
        print(f"python {platform.python_version()} · {platform.machine()} · {os.cpu_count()} CPUs · SQLite")
        print(f"{'page':<40} {'p50 ms':>8} {'p99 ms':>8}")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
            rows = [
                ("inbox, all (demo desk)", "/inbox?view=all"),
                ("ticket page (demo desk)", f"/tickets/{ticket_id}"),
            ]
            for name, path in rows:
                p50, p99 = await _time(http, path, args.runs, cookie)
                print(f"{name:<40} {p50:8.1f} {p99:8.1f}")
            if args.extra:
                await _add_tickets(runtime, args.extra)
                for name, path in (
                    (f"inbox, all (+{args.extra} tickets)", "/inbox?view=all"),
                    (f"inbox, unassigned (+{args.extra})", "/inbox?view=unassigned"),
                    (f"inbox counts (+{args.extra})", "/inbox/counts"),
                ):
                    p50, p99 = await _time(http, path, args.runs, cookie)
                    print(f"{name:<40} {p50:8.1f} {p99:8.1f}")
        await runtime.close()


if __name__ == "__main__":
    asyncio.run(main())
