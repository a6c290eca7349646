"""A day of synthetic arrivals replayed against simulated agents, once per assignment policy.

Arrivals are Poisson per hour on a daily curve (quiet at night, peaks late morning and evening),
with a channel mix (chat, e-mail, Telegram), topics, languages, priorities and a few VIPs.
Agents work shifts, have per-channel capacity and skills, and handle a ticket for a random time
(chats minutes, e-mails longer). Every assignment is decided by opora.routing.decide (no database):
on each arrival, each time an agent frees a slot, at shift starts and when a skill fallback ends.

Reported per policy: first-response time (arrival → an agent takes the ticket and starts on it,
i.e. wait in the queue plus the agent's pick-up delay) p50/p90, SLA compliance against a target
per channel, and the decision cost per ticket of decide.plan in microseconds.

Usage: .venv/bin/python bench/routing.py [--seed 7] [--tickets-per-day 2400] [--agents 14]
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from opora.routing.decide import AgentState, Policy, Skills, TeamPolicy, TicketState, plan

START = datetime(2026, 11, 23, tzinfo=UTC)
# Share of the day's tickets per hour (Moscow shop): night trough, 11:00 and 20:00 peaks.
HOURLY = [
    1,
    0.6,
    0.4,
    0.3,
    0.3,
    0.5,
    1,
    2.5,
    4.5,
    6.5,
    7.5,
    7.8,
    7,
    6.5,
    6.3,
    6,
    5.8,
    5.5,
    6,
    6.8,
    7.2,
    6,
    4,
    2,
]
CHANNELS = {"chat": 0.45, "email": 0.35, "telegram": 0.20}
TOPICS = {"delivery": 0.4, "refund": 0.2, "payment": 0.15, "product": 0.25}
# Minutes an agent works on a ticket (lognormal median) and the first-response target, per channel.
HANDLING_MIN = {"chat": 9.0, "email": 14.0, "telegram": 11.0}
SLA_TARGET = {"chat": timedelta(minutes=2), "email": timedelta(hours=1), "telegram": timedelta(minutes=10)}
PICKUP = timedelta(seconds=20)  # from assignment to the agent starting on the ticket


@dataclass
class SimAgent:
    id: int
    shift: tuple[int, int]  # hours [start, end)
    capacity: dict[str, int]
    skills: Skills
    load: dict[str, int] = field(default_factory=dict)

    def online(self, at: datetime) -> bool:
        hour = at.hour
        start, end = self.shift
        return start <= hour < end if start < end else hour >= start or hour < end


@dataclass
class SimTicket:
    state: TicketState
    arrived: datetime
    assigned: datetime | None = None


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def arrivals(rng: random.Random, per_day: int) -> list[SimTicket]:
    total = sum(HOURLY)
    out: list[SimTicket] = []
    for hour, share in enumerate(HOURLY):
        rate = per_day * share / total  # tickets in this hour
        t = 0.0
        while True:
            t += rng.expovariate(rate)
            if t >= 1.0:
                break
            at = START + timedelta(hours=hour + t)
            out.append(
                SimTicket(
                    TicketState(
                        id=len(out) + 1,
                        channel=_pick(rng, CHANNELS),
                        priority=rng.choices(["low", "normal", "high", "urgent"], [10, 70, 15, 5])[0],
                        topic=_pick(rng, TOPICS),
                        language="en" if rng.random() < 0.08 else "ru",
                        vip=rng.random() < 0.05,
                        created_at=at,
                        waiting_since=at,
                    ),
                    at,
                )
            )
    return out


def staff(rng: random.Random, count: int) -> list[SimAgent]:
    shifts = [(8, 17), (9, 18), (10, 19), (12, 21), (14, 23), (16, 1), (22, 8)]
    agents = []
    for i in range(count):
        topics = frozenset(rng.sample(sorted(TOPICS), 2)) if i % 3 == 0 else frozenset()
        agents.append(
            SimAgent(
                id=i + 1,
                shift=shifts[i % len(shifts)],
                capacity={"chat": 3, "email": 8, "telegram": 4},
                skills=Skills(
                    topics=topics, languages=frozenset({"en"}) if i % 4 == 0 else frozenset(), vip=i % 5 == 0
                ),
            )
        )
    return agents


def simulate(policy: Policy, tickets: list[SimTicket], agents: list[SimAgent], seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    team = TeamPolicy(policy, timedelta(seconds=60), {"chat": 2.0, "email": 0.5, "telegram": 1.0})
    by_id = {t.state.id: t for t in tickets}
    for a in agents:
        a.load = {}
    for t in tickets:
        t.assigned = None
    # Events: (time, order, kind, payload). Kinds: arrive, free (agent, channel), wake.
    events: list[tuple[datetime, int, str, int, str]] = []
    seq = 0
    for t in tickets:
        heapq.heappush(events, (t.arrived, seq, "arrive", t.state.id, ""))
        seq += 1
    for day_hour in range(26):  # shift starts and ends wake the queue
        heapq.heappush(events, (START + timedelta(hours=day_hour), seq, "wake", 0, ""))
        seq += 1
    waiting: dict[int, SimTicket] = {}
    pointer: int | None = None
    retry_scheduled: set[int] = set()
    decide_ns = 0
    examined = 0
    decisions = 0
    while events:
        now, _, kind, ref, channel = heapq.heappop(events)
        if kind == "arrive":
            waiting[ref] = by_id[ref]
        elif kind == "free":
            agent = agents[ref - 1]
            agent.load[channel] -= 1
        if not waiting:
            continue
        snapshot = [
            AgentState(a.id, "online" if a.online(now) else "offline", a.capacity, 0, dict(a.load), a.skills)
            for a in agents
        ]
        queue = [t.state for t in waiting.values()]
        started = time.perf_counter_ns()
        result = plan(queue, snapshot, TeamPolicy(team.policy, team.fallback, team.weights, pointer), now)
        decide_ns += time.perf_counter_ns() - started
        examined += len(queue)
        decisions += len(result.assignments)
        pointer = result.last_assigned_id
        for ticket_id, agent_id in result.assignments:
            ticket = waiting.pop(ticket_id)
            ticket.assigned = now
            ch = ticket.state.channel
            agent = agents[agent_id - 1]
            agent.load[ch] = agent.load.get(ch, 0) + 1
            handling = timedelta(minutes=rng.lognormvariate(0, 0.6) * HANDLING_MIN[ch])
            heapq.heappush(events, (now + PICKUP + handling, seq, "free", agent_id, ch))
            seq += 1
        for ticket_id, retry_at in result.retries:
            # One wake per waiting ticket, as the service's unique job key gives.
            if ticket_id not in retry_scheduled:
                retry_scheduled.add(ticket_id)
                heapq.heappush(events, (retry_at, seq, "wake", 0, ""))
                seq += 1
    served = [t for t in tickets if t.assigned is not None]
    frt = [((t.assigned - t.arrived) + PICKUP).total_seconds() for t in served if t.assigned]
    met = sum(
        1 for t in served if t.assigned and (t.assigned - t.arrived) + PICKUP <= SLA_TARGET[t.state.channel]
    )
    q = statistics.quantiles(frt, n=10)
    return {
        "served": len(served),
        "p50": statistics.median(frt),
        "p90": q[8],
        "sla": met / len(tickets),
        # Each pass looks at every waiting ticket: cost per ticket looked at, and per assignment.
        "us_per_look": decide_ns / 1000 / max(1, examined),
        "us_per_ticket": decide_ns / 1000 / max(1, decisions),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tickets-per-day", type=int, default=2400)
    parser.add_argument("--agents", type=int, default=14)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    tickets = arrivals(rng, args.tickets_per_day)
    agents = staff(rng, args.agents)
    channels = {c: sum(1 for t in tickets if t.state.channel == c) for c in CHANNELS}
    print(
        f"{len(tickets)} tickets in a day ({', '.join(f'{c} {n}' for c, n in channels.items())}), "
        f"{len(agents)} agents on shifts, skill fallback 60 s, pick-up {PICKUP.seconds} s"
    )
    targets = ", ".join(f"{c} {int(t.total_seconds() // 60)} min" for c, t in SLA_TARGET.items())
    print(f"first-response targets: {targets}")
    print(
        f"{'policy':<14}{'served':>8}{'FRT p50':>10}{'FRT p90':>10}{'SLA met':>9}"
        f"{'µs/look':>9}{'µs/assignment':>15}"
    )
    started = time.perf_counter()
    for policy in (Policy.LEAST_LOADED, Policy.ROUND_ROBIN):
        r = simulate(policy, tickets, agents, args.seed)
        print(
            f"{policy.value:<14}{int(r['served']):>8}{_fmt(r['p50']):>10}{_fmt(r['p90']):>10}"
            f"{r['sla']:>9.1%}{r['us_per_look']:>9.1f}{r['us_per_ticket']:>15.1f}"
        )
    print(f"(simulated in {time.perf_counter() - started:.1f} s)")
    return 0


def _fmt(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
