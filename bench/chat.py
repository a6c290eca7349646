"""Chat widget: connections one server process holds, and live delivery latency both ways.

Starts `opora` as its own process (embedded shape: SQLite, in-memory bus, in-process worker; or
PostgreSQL + Redis with --postgres) on loopback, opens N widget sessions and WebSockets, and an
agent's SSE stream (/api/v1/stream with an API token). Then, with every connection open and idle:

  visitor → agent   a visitor sends a message over its socket; time until the agent's stream
                    shows its message_added event;
  agent → visitor   the agent posts a reply through the API; time until the visitor's socket
                    shows it.

The server has two chat channels, and half of the visitors use each: "inline" processes a
visitor's message in the transaction that stores it (the default, ADR 0029), "job" stores it and
leaves it to the inbox job (``process_inline: false``, the path before). Samples alternate
between the two, one at a time, so both see the same machine load and each figure is a delivery,
not a queue: a visitor sample waits for its message's ack and then for the server to run no SQL
for 50 ms (the message's reactions and jobs are over) before the next one is sent. The load
average is printed before and after: the machine may be shared. Everything stays on 127.0.0.1
and stops by itself.

Besides latencies it prints what they do not depend on: the server's SQL statements and CPU per
visitor message and per reply (all of the work, jobs included), and, for an inline message, the
statements and CPU until its message_added was published (what stood between it and the agents),
and the server's garbage collections: every generation-2 collection while sampling with the
objects it walked, the long ones before, and the tracked objects by type idle, with the sockets
open and after sampling (ADR 43). The server runs as `opora serve` does: the collector policy of
ADR 43 and uvicorn's sans-I/O WebSocket protocol. `OPORA_GC_YOUNG_OBJECTS=0` gives it CPython's
own collector policy and `BENCH_WS=websockets` (or any uvicorn `ws` choice) another WebSocket
protocol, for side-by-side runs.

Usage: .venv/bin/python bench/chat.py [--connections 2000] [--samples 150] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]
KEYS = {"job": "bench-chat-job", "inline": "bench-chat-inline"}
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the server process ----------------------------------------------------------------------------


def _postgres_database(name: str, *, drop: bool) -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def serve(port: int, data_dir: Path, database_url: str | None) -> None:
    import uvicorn
    from sqlalchemy import event

    from opora.agents.models import Agent, Role, Team, TeamMember
    from opora.app import create_app
    from opora.auth import service as auth_service
    from opora.channels.models import Channel
    from opora.cli import WEBSOCKET_IMPLEMENTATION
    from opora.config import Settings
    from opora.migrate import upgrade
    from opora.runtime import build_runtime

    url = database_url or f"sqlite+aiosqlite:///{data_dir / 'bench.db'}"
    upgrade(url)
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        redis_url=REDIS_URL if database_url else None,
        secret_key="bench",
        embedded_worker=True,
        _env_file=None,
    )
    runtime = build_runtime(settings)

    async def seed() -> str:
        async with runtime.db.uow() as uow:
            team = Team(name="Чат")
            uow.session.add(team)
            agent = Agent(email="olga@bench.test", name="Olga", role=Role.AGENT, presence="online")
            uow.session.add(agent)
            await uow.session.flush()
            uow.session.add(TeamMember(team_id=team.id, agent_id=agent.id))
            for mode, key in KEYS.items():
                settings = {"public_key": key, "team_id": team.id, "process_inline": mode == "inline"}
                uow.session.add(Channel(type="webchat", name=f"chat {mode}", settings=settings))
            issued = await auth_service.issue_token(uow, agent_id=agent.id, name="bench")
        await runtime.db.dispose()
        return issued.secret

    token = asyncio.run(seed())
    (data_dir / "token").write_text(token)
    app = create_app(runtime, run_worker=True)
    # SQL statements the server ran, by every path (requests, sockets, the worker's jobs): with
    # the CPU time, the figure that does not depend on the machine's load.
    statements = [0]

    def count(*_args: Any) -> None:
        statements[0] += 1

    event.listen(runtime.db.engine.sync_engine, "before_cursor_execute", count)
    # The statements run and the CPU spent when a visitor's message was announced to agents
    # (its message_added left for the bus): the work that stood between the message and them.
    announced: list[tuple[int, float]] = []
    publish = runtime.bus.publish

    async def publish_and_note(topic: str, message: dict[str, Any]) -> None:
        if message.get("kind") == "message_added" and (message.get("data") or {}).get("direction") == "in":
            announced.append((statements[0], time.process_time()))
        await publish(topic, message)

    runtime.bus.publish = publish_and_note  # type: ignore[method-assign]

    # The collector's pauses: with thousands of sockets a full collection walks every object.
    # Each record: generation, wall seconds, objects collected, and for a full collection the
    # tracked objects it had to walk (generations 0, 1, 2; counted before the clock starts).
    pauses: list[tuple[int, float, int, list[int]]] = []
    started: list[float] = [0.0]
    walked: list[list[int]] = [[]]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            walked[0] = [len(gc.get_objects(g)) for g in range(3)] if info["generation"] == 2 else []
            started[0] = time.perf_counter()
        else:
            elapsed = time.perf_counter() - started[0]
            pauses.append((int(info["generation"]), elapsed, int(info["collected"]), walked[0]))

    gc.callbacks.append(on_gc)

    async def statement_count() -> dict[str, Any]:
        return {
            "statements": statements[0],
            "cpu": time.process_time(),
            "announced": announced[-1:],
            "gc": len(pauses),
        }

    async def gc_pauses(since: int = 0) -> list[tuple[int, float, int, list[int]]]:
        return pauses[since:]

    async def heap() -> dict[str, Any]:
        # What a full collection would walk now (every tracked object outside the frozen
        # generation), by type, and what start-up froze.
        by_type: dict[str, int] = {}
        for obj in gc.get_objects():
            kind = type(obj)
            name = f"{kind.__module__}.{kind.__qualname__}"
            if kind.__name__ in ("coroutine", "function", "cell", "method"):
                # Which code holds them says more than the type: the middleware, a library, ours.
                inner = getattr(obj, "__func__", obj)
                code = getattr(inner, "cr_code", None) or getattr(inner, "__code__", None)
                if code is not None:
                    name += f" {code.co_qualname}"
            by_type[name] = by_type.get(name, 0) + 1
        return {
            "frozen": gc.get_freeze_count(),
            "tracked": sum(by_type.values()),
            "rss_kb": _rss_kb(os.getpid()),
            "by_type": by_type,
        }

    async def quiet() -> dict[str, Any]:
        # Waits here rather than in the client, so that waiting costs one request, not a poll.
        last, still = statements[0], 0.0
        while still < 0.05:
            await asyncio.sleep(0.01)
            still = still + 0.01 if statements[0] == last else 0.0
            last = statements[0]
        return await statement_count()

    app.add_api_route("/_bench/statements", statement_count, methods=["GET"], include_in_schema=False)
    app.add_api_route("/_bench/quiet", quiet, methods=["GET"], include_in_schema=False)
    app.add_api_route("/_bench/gc", gc_pauses, methods=["GET"], include_in_schema=False)
    app.add_api_route("/_bench/heap", heap, methods=["GET"], include_in_schema=False)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws=os.environ.get("BENCH_WS", WEBSOCKET_IMPLEMENTATION),
    )


# -- the load ---------------------------------------------------------------------------------------


def _ms(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)

    def p(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return (
        f"p50 {statistics.median(ordered) * 1000:6.1f} ms   p99 {p(0.99) * 1000:6.1f} ms   "
        f"max {ordered[-1] * 1000:6.1f} ms   (n={len(ordered)})"
    )


class Visitor:
    def __init__(self, token: str, mode: str) -> None:
        self.token = token
        self.mode = mode
        self.ws: Any = None
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.ticket_id: int | None = None

    async def connect(self, ws_url: str) -> None:
        self.ws = await websockets.connect(ws_url, open_timeout=60, ping_interval=None, max_queue=None)
        hello = {"type": "hello", "channel": KEYS[self.mode], "token": self.token, "after_id": 0}
        await self.ws.send(json.dumps(hello))
        while (frame := json.loads(await self.ws.recv()))["type"] != "ready":
            pass
        self.ready: dict[str, Any] = frame
        asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                await self.frames.put(json.loads(raw))
        except websockets.ConnectionClosed:
            return

    async def next(self, kind: str, text: str | None = None, within: float = 10) -> dict[str, Any]:
        """The next frame of this kind (with this message text, when given) within ``within`` s."""
        async with asyncio.timeout(within):
            while True:
                frame = await self.frames.get()
                if frame["type"] == kind and (text is None or frame["message"]["text"] == text):
                    return frame

    async def stored_and_acked(self, text: str, within: float = 10) -> None:
        """Wait for the stored copy of this message and for its ack, in whichever order."""
        seen = {"message": False, "ack": False}
        async with asyncio.timeout(within):
            while not all(seen.values()):
                frame = await self.frames.get()
                if frame["type"] == "ack" or (
                    frame["type"] == "message" and frame["message"]["text"] == text
                ):
                    seen[frame["type"]] = True


async def _stream(base: str, token: str, events: asyncio.Queue[tuple[float, dict[str, Any]]]) -> None:
    async with (
        httpx.AsyncClient(base_url=base, timeout=None) as client,
        client.stream("GET", "/api/v1/stream", headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                await events.put((time.perf_counter(), json.loads(line[6:])))


async def run(args: argparse.Namespace) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    database = f"opora_bench_chat_{os.getpid()}"
    url = _postgres_database(database, drop=False) if args.postgres else ""
    with tempfile.TemporaryDirectory(prefix="opora-bench-chat-") as tmp:
        log = (Path(tmp) / "server.log").open("wb")
        server = subprocess.Popen(  # noqa: ASYNC220 - started once, before any load
            [sys.executable, __file__, "--serve", str(port), tmp, url],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
        try:
            await _load(args, base, Path(tmp), server)
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(15)
            log.close()
            if args.server_log:
                _keep(Path(tmp) / "server.log", Path(args.server_log))
            if args.postgres:
                _postgres_database(database, drop=True)


def _keep(log: Path, to: Path) -> None:
    # The temporary directory goes away; keep what the server said (errors, profiles).
    to.write_bytes(log.read_bytes())


async def _load(args: argparse.Namespace, base: str, tmp: Path, server: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=50)) as http:
        for _ in range(300):
            if server.poll() is not None:
                raise SystemExit(f"the server exited: {(tmp / 'server.log').read_text()}")
            try:
                if (await http.get("/healthz")).status_code == 200 and (tmp / "token").exists():
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
        agent_token = (tmp / "token").read_text()
        agent_h = {"Authorization": f"Bearer {agent_token}"}

        heap_idle = (await http.get("/_bench/heap")).json()
        started = time.perf_counter()
        gate = asyncio.Semaphore(50)

        async def open_one(mode: str) -> Visitor:
            async with gate:
                r = await http.post("/widget/v1/session", content=json.dumps({"channel": KEYS[mode]}))
                r.raise_for_status()
                visitor = Visitor(r.json()["token"], mode)
                await visitor.connect(base.replace("http", "ws") + "/widget/v1/ws")
                return visitor

        modes = [("inline", "job")[i % 2] for i in range(args.connections)]
        results = await asyncio.gather(*(open_one(mode) for mode in modes), return_exceptions=True)
        visitors = [v for v in results if isinstance(v, Visitor)]
        failures = [r for r in results if not isinstance(r, Visitor)]
        opened = time.perf_counter() - started
        print(
            f"connections held by one process: {len(visitors)} of {args.connections} "
            f"({len(failures)} failed) in {opened:.1f} s"
        )
        if failures:
            print(f"  first failure: {failures[0]!r}")
        heap_open = (await http.get("/_bench/heap")).json()

        events: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        stream = asyncio.create_task(_stream(base, agent_token, events))
        await asyncio.sleep(1.0)

        print(f"load average before sampling: {_load_average()}")
        # With thousands of sockets in this one process, the client itself may be what is slow:
        # a 10 ms sleep that wakes late says by how much every timestamp here may be late too.
        lags: list[float] = []
        lag = asyncio.create_task(_loop_lag(lags))
        inbound: dict[str, list[float]] = {"inline": [], "job": []}
        # Per inline message: statements and server CPU until the agents were told.
        until_announced: list[tuple[int, float]] = []
        samplers = visitors[: args.samples * 2]
        cpu_before = _cpu_seconds(server.pid)
        sql_before = await _statements(http)
        gc_before = int((await http.get("/_bench/statements")).json()["gc"])
        for i, visitor in enumerate(samplers):
            # Each sample starts on a quiet server: the previous message's work (its reactions,
            # its jobs) is over, so a figure is one message's delivery, not a queue's.
            quiet = await _quiet(http)
            while not events.empty():
                events.get_nowait()
            sent = time.perf_counter()
            await visitor.ws.send(
                json.dumps({"type": "message", "client_id": f"b{i}", "text": f"Вопрос {i}"})
            )
            while True:
                at, event = await asyncio.wait_for(events.get(), 10)
                if event.get("kind") == "message_added" and event["data"].get("direction") == "in":
                    inbound[visitor.mode].append(at - sent)
                    visitor.ticket_id = event["ticket_id"]
                    break
            await visitor.stored_and_acked(f"Вопрос {i}")  # the next sample starts clean
            if visitor.mode == "inline":
                after = (await http.get("/_bench/statements")).json()["announced"]
                if after and after[0][0] > quiet["statements"]:
                    until_announced.append((after[0][0] - quiet["statements"], after[0][1] - quiet["cpu"]))
        await asyncio.sleep(1.0)  # the last message's jobs count for the messages
        cpu_inbound = _cpu_seconds(server.pid) - cpu_before
        sql_inbound = await _statements(http) - sql_before
        for mode in ("job", "inline"):
            print(f"visitor → agent stream, {mode:6}:  {_ms(inbound[mode])}")

        outbound: dict[str, list[float]] = {"inline": [], "job": []}
        late: list[tuple[Visitor, str]] = []
        cpu_before = _cpu_seconds(server.pid)
        sql_before = await _statements(http)
        for i, visitor in enumerate(samplers):
            if visitor.ticket_id is None:
                continue
            sent = time.perf_counter()
            text = f"Ответ {i}"
            r = await http.post(
                f"/api/v1/tickets/{visitor.ticket_id}/messages", headers=agent_h, json={"text": text}
            )
            r.raise_for_status()
            try:
                await visitor.next("message", text)
            except TimeoutError:
                late.append((visitor, text))  # not seen within 10 s: reported, not averaged in
                continue
            outbound[visitor.mode].append(time.perf_counter() - sent)
        lag.cancel()
        await asyncio.sleep(1.0)  # and the last reply's for the replies
        cpu_outbound = _cpu_seconds(server.pid) - cpu_before
        sql_outbound = await _statements(http) - sql_before
        for mode in ("job", "inline"):
            behind = sum(1 for v, _ in late if v.mode == mode)
            print(
                f"agent → visitor socket, {mode:6}:  {_ms(outbound[mode])}  (from the reply's POST; "
                f"{behind} not seen within 10 s)"
            )
        print(f"bench client's own event-loop lag while sampling: {_ms(lags)}")
        collected = (await http.get("/_bench/gc", params={"since": gc_before})).json()
        for generation in (0, 1, 2):
            print(
                f"server GC pauses while sampling, generation {generation}: "
                f"{_ms([p[1] for p in collected if p[0] == generation])}"
            )
        for _, pause, freed, walked in (p for p in collected if p[0] == 2):
            print(
                f"  full collection: {pause * 1000:.0f} ms, walked {sum(walked):,} tracked objects "
                f"(generations 0/1/2: {'/'.join(f'{n:,}' for n in walked)}), freed {freed:,}"
            )
        opening = [p for p in (await http.get("/_bench/gc")).json()[:gc_before] if p[0] == 2]
        if opening:
            longest = max(opening, key=lambda p: p[1])
            print(
                f"  before sampling (start-up, opening the sockets): {len(opening)} collections of "
                f"generation 2, the longest {longest[1] * 1000:.0f} ms walking {sum(longest[3]):,} objects; "
                "those walking over 200,000: "
                + (", ".join(f"{p[1] * 1000:.0f} ms" for p in opening if sum(p[3]) > 200_000) or "none")
            )
        heap_end = (await http.get("/_bench/heap")).json()
        _print_heap(heap_idle, heap_open, heap_end, len(visitors))
        # CPU time barely depends on the machine's load, unlike the latencies above.
        messages = sum(len(v) for v in inbound.values())
        replies = sum(len(v) for v in outbound.values()) + len(late)
        print(
            f"server CPU per visitor message (both paths, with the worker's jobs): "
            f"{cpu_inbound / max(1, messages) * 1000:.1f} ms; per agent reply: "
            f"{cpu_outbound / max(1, replies) * 1000:.1f} ms"
        )
        print(
            f"server SQL statements per visitor message: {sql_inbound / max(1, messages):.1f}; "
            f"per agent reply: {sql_outbound / max(1, replies):.1f}"
        )
        if until_announced:
            print(
                "inline visitor message until agents are told (median): "
                f"{statistics.median(n for n, _ in until_announced):.0f} statements, "
                f"{statistics.median(c for _, c in until_announced) * 1000:.1f} ms of server CPU "
                f"(n={len(until_announced)})"
            )
        print(f"load average after sampling: {_load_average()}")
        if late:
            await _late_or_lost(late, base)

        stream.cancel()
        alive = sum(1 for v in visitors if v.ws.state.name == "OPEN")
        print(f"connections still open at the end: {alive}")
        await asyncio.gather(*(v.ws.close() for v in visitors), return_exceptions=True)


async def _quiet(http: httpx.AsyncClient) -> dict[str, Any]:
    """The server's counters once it has run no statement for 50 ms."""
    found: dict[str, Any] = (await http.get("/_bench/quiet")).json()
    return found


async def _statements(http: httpx.AsyncClient) -> int:
    return int((await http.get("/_bench/statements")).json()["statements"])


def _print_heap(idle: dict[str, Any], opened: dict[str, Any], end: dict[str, Any], sockets: int) -> None:
    """What a full collection walks (tracked objects outside the frozen start-up set), idle,
    with every socket open, and after sampling; the types that grew most, per socket."""
    for label, heap in (("idle", idle), ("sockets open", opened), ("after sampling", end)):
        print(
            f"server heap {label}: {heap['tracked']:,} tracked objects a full collection walks "
            f"({heap['frozen']:,} frozen), RSS {heap['rss_kb'] / 1024:.0f} MB"
        )
    for title, before, after, per in (
        ("opening the sockets, per socket", idle, opened, max(1, sockets)),
        ("sampling (messages, replies, lazy loads)", opened, end, 1),
    ):
        grown = {k: n - before["by_type"].get(k, 0) for k, n in after["by_type"].items()}
        top = sorted(grown.items(), key=lambda kv: -kv[1])[:25]
        print(f"  grew while {title}: " + ", ".join(f"{k} {n / per:,.1f}" for k, n in top if n > 0))


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _loop_lag(lags: list[float]) -> None:
    while True:
        asked = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - asked - 0.01)


async def _late_or_lost(late: list[tuple[Visitor, str]], base: str) -> None:
    """A reply not seen within 10 s is either late or lost: wait 30 s more on the same socket,
    then ask a fresh socket's history (what a reconnecting widget would see)."""
    still: list[tuple[Visitor, str]] = []
    deadline = time.perf_counter() + 30
    for visitor, text in late:
        try:
            await visitor.next("message", text, within=max(0.01, deadline - time.perf_counter()))
        except TimeoutError:
            still.append((visitor, text))
    refetched = 0
    for visitor, text in still:
        fresh = Visitor(visitor.token, visitor.mode)
        await fresh.connect(base.replace("http", "ws") + "/widget/v1/ws")
        if any(m["text"] == text for m in fresh.ready["messages"]):
            refetched += 1
        await fresh.ws.close()
    print(
        f"  of the {len(late)} replies not seen within 10 s: {len(late) - len(still)} arrived later on "
        f"the same socket, {refetched} only in a reconnect's history, "
        f"{len(still) - refetched} nowhere (lost)"
    )


def _load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min, {os.cpu_count()} cores)"


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] or None)
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=150, help="per mode")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL + Redis instead of SQLite")
    parser.add_argument("--server-log", help="copy the server's output to this file at the end")
    args = parser.parse_args()
    shape = "PostgreSQL + Redis bus" if args.postgres else "SQLite, in-memory bus"
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {shape}, one process")
    # 0 (the default) is CPython's own collector policy after the start-up freeze; ADR 43's is 10000.
    print(f"collector policy: OPORA_GC_YOUNG_OBJECTS={os.environ.get('OPORA_GC_YOUNG_OBJECTS', 'default')}")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
