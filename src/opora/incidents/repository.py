"""All SQL of incidents."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opora.db import fold
from opora.incidents.models import Incident, IncidentStatus, IncidentTicket, IncidentUpdate
from opora.kit.readcache import cached, copy_row, watch
from opora.tickets.models import Ticket


@dataclass(frozen=True, slots=True)
class LinkedTicket:
    ticket_id: int
    subject: str
    status: str
    channel_type: str
    merged: bool
    linked_by: str
    linked_at: datetime


async def list_incidents(session: AsyncSession, *, active_only: bool, limit: int) -> Sequence[Incident]:
    query = select(Incident).order_by(Incident.id.desc()).limit(limit)
    if active_only:
        query = query.where(Incident.status != IncidentStatus.RESOLVED)
    return (await session.scalars(query)).all()


async def get(session: AsyncSession, incident_id: int, *, for_update: bool = False) -> Incident | None:
    query = select(Incident).where(Incident.id == incident_id)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


# Every new ticket, and every ticket whose topic changes, asks which open incidents have a rule
# (twice for a chat visitor's first message: created, then topic set by the AI); incidents
# change a few times a day.
watch(Incident.__tablename__)


async def active_rules(session: AsyncSession) -> Sequence[Incident]:
    """Open incidents with a rule, as read-only copies shared by the process (kit.readcache)."""

    async def load() -> list[Incident]:
        query = select(Incident).where(
            Incident.status != IncidentStatus.RESOLVED, Incident.rule_topic.is_not(None)
        )
        return [copy_row(incident) for incident in (await session.scalars(query)).all()]

    return await cached(session, "incidents.active_rules", load)


async def tickets(session: AsyncSession, ticket_ids: Collection[int]) -> dict[int, Ticket]:
    if not ticket_ids:
        return {}
    rows = await session.scalars(select(Ticket).where(Ticket.id.in_(sorted(ticket_ids))))
    return {t.id: t for t in rows}


async def rule_candidates(session: AsyncSession, incident: Incident) -> Sequence[Ticket]:
    """Tickets the incident's rule may take in; the exact match is :func:`rules.rule_matches`."""
    topic = " ".join((incident.rule_topic or "").casefold().split())
    query = select(Ticket).where(
        fold(Ticket.topic) == topic, Ticket.merged_into_id.is_(None), Ticket.status != "closed"
    )
    if incident.rule_from is not None:
        query = query.where(Ticket.created_at >= incident.rule_from)
    if incident.rule_until is not None:
        query = query.where(Ticket.created_at < incident.rule_until)
    return (await session.scalars(query)).all()


async def linked_pairs(
    session: AsyncSession, incident_ids: Collection[int], ticket_ids: Collection[int]
) -> set[tuple[int, int]]:
    if not incident_ids or not ticket_ids:
        return set()
    rows = await session.execute(
        select(IncidentTicket.incident_id, IncidentTicket.ticket_id).where(
            IncidentTicket.incident_id.in_(sorted(incident_ids)),
            IncidentTicket.ticket_id.in_(sorted(ticket_ids)),
        )
    )
    return {(row.incident_id, row.ticket_id) for row in rows}


async def linked(session: AsyncSession, incident_id: int) -> list[LinkedTicket]:
    rows = await session.execute(
        select(
            Ticket.id,
            Ticket.subject,
            Ticket.status,
            Ticket.channel_type,
            Ticket.merged_into_id,
            IncidentTicket.linked_by,
            IncidentTicket.linked_at,
        )
        .join(IncidentTicket, IncidentTicket.ticket_id == Ticket.id)
        .where(IncidentTicket.incident_id == incident_id)
        .order_by(Ticket.id)
    )
    return [
        LinkedTicket(
            r.id, r.subject, r.status, r.channel_type, r.merged_into_id is not None, r.linked_by, r.linked_at
        )
        for r in rows
    ]


async def linked_counts(session: AsyncSession, incident_ids: Collection[int]) -> dict[int, int]:
    if not incident_ids:
        return {}
    rows = await session.execute(
        select(IncidentTicket.incident_id, func.count())
        .where(IncidentTicket.incident_id.in_(sorted(incident_ids)))
        .group_by(IncidentTicket.incident_id)
    )
    return {int(incident_id): int(n) for incident_id, n in rows}


async def get_link(session: AsyncSession, incident_id: int, ticket_id: int) -> IncidentTicket | None:
    return await session.get(IncidentTicket, (incident_id, ticket_id))


async def updates(session: AsyncSession, incident_id: int) -> Sequence[IncidentUpdate]:
    query = (
        select(IncidentUpdate).where(IncidentUpdate.incident_id == incident_id).order_by(IncidentUpdate.id)
    )
    return (await session.scalars(query)).all()


async def incidents_of_ticket(session: AsyncSession, ticket_id: int) -> Sequence[Incident]:
    query = (
        select(Incident)
        .join(IncidentTicket, IncidentTicket.incident_id == Incident.id)
        .where(IncidentTicket.ticket_id == ticket_id)
        .order_by(Incident.id)
    )
    return (await session.scalars(query)).all()
