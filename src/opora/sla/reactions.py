"""SLA clocks follow ticket events in the transaction that records them (reactor order 10).

Per transaction: one query for the tickets, one for their clocks, one for the policies, the
settings and the calendars involved (plus one for inbound message flags when messages arrived),
however many events and tickets the batch holds. Events of one ticket apply in the order they
were recorded; the status a ticket had before them is read from the first status change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.reactions import Fact, reactor
from opora.events.service import SYSTEM
from opora.jobs.service import enqueue
from opora.kit.time import utcnow
from opora.sla import autoreply, clock, service
from opora.sla import repository as repo
from opora.sla.calendar import BusinessCalendar
from opora.sla.clock import ClockState
from opora.sla.models import Metric, TicketSla
from opora.sla.policy import METRICS, Policy, Target, TicketFacts, calendar_id_for, match
from opora.sla.repository import TicketRow

# What can move a ticket to another policy: its priority, its team, or its customer's segment.
REMATCH_KINDS = ("priority_changed", "team_changed", "customer_segment_changed")
KINDS = ("ticket_created", "message_added", "status_changed", "merged", *REMATCH_KINDS)
PAUSING = frozenset({"pending", "on_hold"})
FINISHED = frozenset({"solved", "closed"})
CHECK_TASK = "sla.check"


@reactor(*KINDS, order=10, name="sla.clocks")
async def follow_ticket_events(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
    await apply_facts(uow, facts, now=utcnow())


@reactor("ticket_created", order=11, name="sla.autoack")
async def acknowledge_new_tickets(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
    await autoreply.acknowledge(uow, [f.ticket_id for f in facts if f.actor_type == "customer"], now=utcnow())


@dataclass
class _Ticket:
    row: TicketRow
    policy: Policy | None
    clocks: dict[str, TicketSla]
    status: str
    replied: bool
    touched: set[str] = field(default_factory=set)


async def apply_facts(uow: UnitOfWork, facts: Sequence[Fact], *, now: datetime) -> None:
    session = uow.session
    by_ticket: dict[int, list[Fact]] = {}
    for fact in facts:
        by_ticket.setdefault(fact.ticket_id, []).append(fact)
    rows = await repo.ticket_rows(session, list(by_ticket))
    if not rows:
        return
    existing = await repo.clocks_for(session, list(rows), lock=not uow.is_sqlite)
    inbound = [
        f.data["message_id"]
        for f in facts
        if f.kind == "message_added" and f.data.get("direction") == "in" and f.data.get("message_id")
    ]
    flags = await repo.message_metadata(session, inbound) if inbound else {}
    policies = await service.active_policies(session)
    settings = await repo.cached_settings(session)
    default_calendar = settings.default_calendar_id if settings else None

    tickets: dict[int, _Ticket] = {}
    for ticket_id, row in rows.items():
        first_status = next((f for f in by_ticket[ticket_id] if f.kind == "status_changed"), None)
        tickets[ticket_id] = _Ticket(
            row=row,
            policy=match(policies, TicketFacts(row.channel_type, row.priority, row.segment, row.team_id)),
            clocks={},
            status=str(first_status.data["status"]["old"]) if first_status else row.status,
            replied=False,
        )
    for sla in existing:
        tickets[sla.ticket_id].clocks[sla.metric] = sla

    wanted: set[int] = {c.calendar_id for c in existing if c.calendar_id is not None}
    for t in tickets.values():
        for target in t.policy.targets.values() if t.policy else ():
            cid = calendar_id_for(
                target, team_calendar_id=t.row.team_calendar_id, default_calendar_id=default_calendar
            )
            if cid is not None:
                wanted.add(cid)
    engine = _Engine(uow, await service.load_calendars(session, sorted(wanted)), default_calendar)

    for ticket_id, t in tickets.items():
        for fact in by_ticket[ticket_id]:
            at = fact.created_at or now
            t.replied = t.replied or (t.row.first_response_at is not None and t.row.first_response_at <= at)
            await engine.apply(t, fact, at, flags)
        if any(f.kind in REMATCH_KINDS for f in by_ticket[ticket_id]):
            await engine.rematch(t, max(f.created_at or now for f in by_ticket[ticket_id]))
    await engine.schedule(tickets.values())


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class _Engine:
    def __init__(self, uow: UnitOfWork, calendars: dict[int, BusinessCalendar], default_calendar: int | None):
        self.uow = uow
        self.calendars = calendars
        self.default_calendar = default_calendar

    def calendar(self, sla: TicketSla) -> BusinessCalendar:
        return service.calendar_or_24_7(self.calendars, sla.calendar_id if sla.business else None)

    async def apply(self, t: _Ticket, fact: Fact, at: datetime, flags: dict[int, dict[str, Any]]) -> None:
        if t.row.merged_into_id is not None and fact.kind != "merged":
            return
        if fact.kind == "ticket_created":
            await self.start_missing(t, at, first_response=True)
        elif fact.kind == "message_added":
            await self._message(t, fact, at, flags)
        elif fact.kind == "status_changed":
            await self._status(t, str(fact.data["status"]["old"]), str(fact.data["status"]["new"]), at)
        elif fact.kind == "merged":
            for metric in list(t.clocks):
                await self.fulfil(t, metric, at, reason="merged")

    async def _message(self, t: _Ticket, fact: Fact, at: datetime, flags: dict[int, dict[str, Any]]) -> None:
        data = fact.data
        if data.get("internal"):
            return
        if data.get("direction") == "out":
            if data.get("author_type") != "agent":
                return  # the desk's own acknowledgements answer nobody's question
            t.replied = True
            await self.fulfil(t, Metric.FIRST_RESPONSE, at, reason="reply")
            await self.fulfil(t, Metric.NEXT_RESPONSE, at, reason="reply")
            return
        meta = flags.get(int(data.get("message_id") or 0), {})
        if meta.get("auto_submitted") or meta.get("bounce_of"):
            return  # an out-of-office answer waits for nobody's reply
        current = t.clocks.get(Metric.NEXT_RESPONSE)
        if t.replied and (current is None or current.fulfilled_at is not None):
            await self.start(t, Metric.NEXT_RESPONSE, at)

    async def _status(self, t: _Ticket, old: str, new: str, at: datetime) -> None:
        t.status = new
        if new in FINISHED:
            for metric in list(t.clocks):
                await self.fulfil(t, metric, at, reason=new)
            return
        if old in FINISHED:
            await self.start(t, Metric.RESOLUTION, at)
        if new in PAUSING:
            for metric in list(t.clocks):
                await self._move(t, metric, at, "pause")
        elif old in PAUSING:
            for metric in list(t.clocks):
                await self._move(t, metric, at, "resume")

    # -- clock moves ---------------------------------------------------------------------------

    def _target(self, t: _Ticket, metric: str) -> Target | None:
        return t.policy.targets.get(metric) if t.policy else None

    def _calendar_id(self, t: _Ticket, target: Target) -> int | None:
        return calendar_id_for(
            target, team_calendar_id=t.row.team_calendar_id, default_calendar_id=self.default_calendar
        )

    async def start_missing(self, t: _Ticket, at: datetime, *, first_response: bool) -> None:
        if t.status in FINISHED:
            return
        if first_response and not t.replied:
            await self.start(t, Metric.FIRST_RESPONSE, at, only_new=True)
        await self.start(t, Metric.RESOLUTION, at, only_new=True)

    async def start(self, t: _Ticket, metric: str, at: datetime, *, only_new: bool = False) -> None:
        target = self._target(t, metric)
        sla = t.clocks.get(metric)
        if target is None or t.policy is None or (only_new and sla is not None):
            return
        if sla is not None and sla.fulfilled_at is None:
            return
        if sla is None:
            sla = TicketSla(ticket_id=t.row.id, metric=str(metric))
            self.uow.session.add(sla)
            t.clocks[metric] = sla
        sla.policy_id = t.policy.id
        sla.business = target.business
        sla.calendar_id = self._calendar_id(t, target)
        sla.updated_at = at
        state = clock.start(
            at,
            target.duration,
            self.calendar(sla),
            warning_percent=t.policy.warning_percent,
            paused=t.status in PAUSING,
        )
        sla.apply(state)
        t.touched.add(metric)
        await self._event(t, "sla_started", sla, extra={"target_minutes": target.minutes})

    async def fulfil(self, t: _Ticket, metric: str, at: datetime, *, reason: str) -> None:
        sla = t.clocks.get(metric)
        if sla is None or sla.fulfilled_at is not None:
            return
        await self._settle_breach(t, sla, at)
        sla.apply(clock.fulfil(sla.state(), at, self.calendar(sla)))
        sla.updated_at = at
        t.touched.add(metric)
        await self._event(
            t,
            "sla_fulfilled",
            sla,
            extra={
                "reason": reason,
                "elapsed_seconds": round(sla.elapsed_seconds),
                "breached": sla.breached_at is not None,
            },
        )

    async def _move(self, t: _Ticket, metric: str, at: datetime, how: str) -> None:
        sla = t.clocks[metric]
        before = sla.state()
        if how == "pause":
            if not before.running:
                return
            await self._settle_breach(t, sla, at)
            after = clock.pause(sla.state(), at, self.calendar(sla))
        else:
            if not before.paused:
                return
            after = clock.resume(before, at, self.calendar(sla))
        sla.apply(after)
        sla.updated_at = at
        t.touched.add(metric)
        await self._event(t, "sla_paused" if how == "pause" else "sla_resumed", sla)

    async def _settle_breach(self, t: _Ticket, sla: TicketSla, at: datetime) -> None:
        # A clock that stops after its deadline but before its breach job ran is still breached.
        if (
            sla.breached_at is None
            and sla.due_at is not None
            and sla.fulfilled_at is None
            and at > sla.due_at
        ):
            sla.breached_at = sla.due_at
            await self._event(t, "sla_breached", sla)

    async def rematch(self, t: _Ticket, at: datetime) -> None:
        """Priority, team or segment changed: the policy or calendar may differ; counted time is kept."""
        for metric in METRICS:
            sla = t.clocks.get(metric)
            target = self._target(t, metric)
            if sla is None or sla.fulfilled_at is not None:
                continue
            if target is None or t.policy is None:
                await self.fulfil(t, metric, at, reason="policy_changed")
                continue
            calendar_id = self._calendar_id(t, target)
            same = (
                sla.policy_id == t.policy.id
                and sla.target_seconds == target.minutes * 60
                and sla.business == target.business
                and sla.calendar_id == calendar_id
                and sla.warning_percent == t.policy.warning_percent
            )
            if same:
                continue
            old_calendar = self.calendar(sla)
            sla.policy_id, sla.business, sla.calendar_id = t.policy.id, target.business, calendar_id
            state = clock.retarget(
                sla.state(),
                at,
                old_calendar,
                self.calendar(sla),
                target.duration,
                warning_percent=t.policy.warning_percent,
            )
            sla.apply(state)
            sla.updated_at = at
            t.touched.add(metric)
            await self._event(
                t, "sla_started", sla, extra={"target_minutes": target.minutes, "retargeted": True}
            )
        await self.start_missing(t, at, first_response=not t.replied)

    async def _event(
        self, t: _Ticket, kind: str, sla: TicketSla, *, extra: dict[str, Any] | None = None
    ) -> None:
        data: dict[str, Any] = {
            "metric": sla.metric,
            "due_at": _iso(sla.due_at),
            "policy_id": sla.policy_id,
            "business": sla.business,
            "calendar_id": sla.calendar_id,
            **(extra or {}),
        }
        await events.record(
            self.uow,
            ticket_id=t.row.id,
            kind=kind,
            actor=SYSTEM,
            data=data,
            team_id=t.row.team_id,
            assignee_id=t.row.assignee_id,
        )

    async def schedule(self, tickets: Sequence[_Ticket] | Any) -> None:
        """Queue the warning and breach checks of every clock that moved."""
        for t in tickets:
            for metric in sorted(t.touched):
                sla = t.clocks[metric]
                await schedule_checks(self.uow, sla, sla.state(), self.calendar(sla))


async def schedule_checks(
    uow: UnitOfWork, sla: TicketSla, state: ClockState, calendar: BusinessCalendar
) -> None:
    """Delayed jobs for the clock's warning and breach; the due instant is part of the key.

    A job whose clock has moved since (paused, resumed, fulfilled, retargeted) finds another due
    instant on the row and does nothing, so nothing needs cancelling.
    """
    if not state.running or state.due_at is None:
        return
    due = _iso(state.due_at)
    warn_at = clock.warning_time(state, calendar)
    if warn_at is not None and warn_at < state.due_at:
        await enqueue(
            uow,
            CHECK_TASK,
            {"ticket_id": sla.ticket_id, "metric": sla.metric, "kind": "warning", "due_at": due},
            unique_key=f"sla:{sla.ticket_id}:{sla.metric}:warning:{due}",
            run_at=warn_at,
        )
    if state.breached_at is None:
        await enqueue(
            uow,
            CHECK_TASK,
            {"ticket_id": sla.ticket_id, "metric": sla.metric, "kind": "breach", "due_at": due},
            unique_key=f"sla:{sla.ticket_id}:{sla.metric}:breach:{due}",
            run_at=state.due_at,
        )
