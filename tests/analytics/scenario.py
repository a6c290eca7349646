"""Hand-built ticket histories at chosen instants, with the real SLA engine keeping the clocks.

Each step writes the event rows a ticket change writes, at the step's instant, and runs the SLA
reactor over them as the transaction would; the ``sla_*`` events it records are dated to the same
instant, so a scenario reads exactly as if it had happened then.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from opora.analytics import reactions as analytics_reactions
from opora.customers.models import Customer
from opora.events.models import TicketEvent
from opora.events.reactions import Fact
from opora.runtime import Runtime
from opora.sla import reactions as sla_reactions
from opora.sla import service as sla_service
from opora.sla.schemas import CalendarCreate, PolicyCreate
from opora.tickets.models import Ticket

MSK = ZoneInfo("Europe/Moscow")
OFFICE = {day: [("09:00", "18:00")] for day in ("mon", "tue", "wed", "thu", "fri")}


def msk(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    """An instant of March 2026 given in Moscow time (Monday 2 March is the first Monday)."""
    # In UTC, as every instant the desk records: the SLA engine receives nothing else.
    return datetime(2026, month, day, hour, minute, tzinfo=MSK).astimezone(UTC)


class Scenario:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def office_hours_policy(self, *, channel: str = "email") -> None:
        """Office hours Mon-Fri 09-18 Moscow; email tickets get business-time targets."""
        async with self.runtime.db.uow() as uow:
            calendar = await sla_service.create_calendar(
                uow,
                CalendarCreate(
                    name="Office", timezone="Europe/Moscow", weekly_hours=OFFICE, holiday_country=None
                ),
            )
            await sla_service.create_policy(
                uow,
                PolicyCreate.model_validate(
                    {
                        "name": "Email",
                        "conditions": {"channel_types": [channel]},
                        "targets": {
                            "first_response": {"minutes": 60, "calendar_id": calendar.id},
                            "next_response": {"minutes": 60, "calendar_id": calendar.id},
                            "resolution": {"minutes": 480, "calendar_id": calendar.id},
                        },
                    }
                ),
            )

    async def ticket(
        self,
        at: datetime,
        *,
        channel: str = "email",
        priority: str = "normal",
        team_id: int | None = None,
        assignee_id: int | None = None,
        topic: str | None = None,
        segment: str | None = None,
        subject: str = "Help",
    ) -> int:
        async with self.runtime.db.uow() as uow:
            customer = Customer(name="Customer", segment=segment)
            uow.session.add(customer)
            await uow.session.flush()
            ticket = Ticket(
                subject=subject,
                status="new",
                priority=priority,
                channel_type=channel,
                team_id=team_id,
                assignee_id=assignee_id,
                customer_id=customer.id,
                topic=topic,
                created_at=at,
                updated_at=at,
                status_changed_at=at,
            )
            uow.session.add(ticket)
            await uow.session.flush()
            ticket_id = ticket.id
        await self._events(ticket_id, at, [("ticket_created", "customer", {})])
        return ticket_id

    async def reply(self, ticket_id: int, at: datetime, *, internal: bool = False) -> None:
        async with self.runtime.db.uow() as uow:
            ticket = await uow.session.get(Ticket, ticket_id)
            assert ticket is not None
            if ticket.first_response_at is None and not internal:
                ticket.first_response_at = at
        data = {"direction": "out", "internal": internal, "author_type": "agent"}
        await self._events(ticket_id, at, [("message_added", "agent", data)])

    async def customer_writes(self, ticket_id: int, at: datetime) -> None:
        data = {"direction": "in", "internal": False, "author_type": "customer"}
        await self._events(ticket_id, at, [("message_added", "customer", data)])

    async def status(self, ticket_id: int, at: datetime, new: str) -> None:
        async with self.runtime.db.uow() as uow:
            ticket = await uow.session.get(Ticket, ticket_id)
            assert ticket is not None
            old, ticket.status = ticket.status, new
            ticket.solved_at = at if new == "solved" else ticket.solved_at
        await self._events(ticket_id, at, [("status_changed", "agent", {"status": {"old": old, "new": new}})])

    async def merge(self, source_id: int, target_id: int, at: datetime) -> None:
        async with self.runtime.db.uow() as uow:
            ticket = await uow.session.get(Ticket, source_id)
            assert ticket is not None
            old = ticket.status
            ticket.status, ticket.merged_into_id = "closed", target_id
        await self._events(
            source_id,
            at,
            [
                ("status_changed", "agent", {"status": {"old": old, "new": "closed"}}),
                ("merged", "agent", {"merged_into_id": target_id, "messages_moved": 1}),
            ],
        )

    async def event(
        self, ticket_id: int, at: datetime, kind: str, data: dict[str, Any] | None = None
    ) -> None:
        await self._events(ticket_id, at, [(kind, "system", data or {})])

    async def _events(
        self, ticket_id: int, at: datetime, specs: list[tuple[str, str, dict[str, Any]]]
    ) -> None:
        async with self.runtime.db.uow() as uow:
            facts = []
            for kind, actor, data in specs:
                uow.session.add(
                    TicketEvent(ticket_id=ticket_id, kind=kind, actor_type=actor, data=data, created_at=at)
                )
                facts.append(Fact(ticket_id, kind, actor, None, data, at))
            await uow.session.flush()
            await sla_reactions.apply_facts(uow, facts, now=at)
            # The engine stamps its own events with the wall clock; this step happened at ``at``.
            for row in [*uow.session.new, *uow.session.identity_map.values()]:
                if isinstance(row, TicketEvent) and row.created_at > at + timedelta(seconds=1):
                    row.created_at = at
            # The facts reactor runs after the SLA one in the real transaction; here after the
            # clock's events got their instant.
            await uow.session.flush()
            await analytics_reactions.keep_facts(uow, facts)
