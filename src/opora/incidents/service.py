"""Incident use cases: open, link tickets (by hand or by rule), post updates, resolve.

An update reaches every linked customer as a public reply on that customer's ticket and channel,
one job per ticket: a desk with hundreds of linked tickets answers the request at once, and one
failing ticket does not hold back the others. The final update also solves the ticket.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opora.agents.models import Role
from opora.auth.permissions import Principal
from opora.customers.models import Customer
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.service import SYSTEM, Actor
from opora.incidents import repository, rules
from opora.incidents.models import Incident, IncidentStatus, IncidentTicket, IncidentUpdate
from opora.incidents.schemas import IncidentIn, IncidentUpdateIn
from opora.jobs.service import enqueue
from opora.kit import placeholders
from opora.kit.errors import Forbidden, IllegalTransition, InvalidInput, NotFound
from opora.kit.time import utcnow
from opora.tickets import service as tickets_service
from opora.tickets.lifecycle import Status
from opora.tickets.models import Ticket
from opora.tickets.schemas import MessageIn

POST_TASK = "incidents.post_update"


def _manager(principal: Principal) -> None:
    if not principal.sees_all_tickets or not principal.can_write:
        raise Forbidden("Only supervisors and admins manage incidents.")


def _check_window(incident: Incident) -> None:
    if incident.rule_from and incident.rule_until and incident.rule_until <= incident.rule_from:
        raise InvalidInput("The rule's window must end after it starts.", field="rule_until")


async def get(uow: UnitOfWork, incident_id: int, *, write: bool = False) -> Incident:
    incident = await repository.get(uow.session, incident_id, for_update=write and not uow.is_sqlite)
    if incident is None:
        raise NotFound(f"Incident {incident_id} does not exist.")
    return incident


async def _open(uow: UnitOfWork, principal: Principal, incident_id: int) -> Incident:
    _manager(principal)
    incident = await get(uow, incident_id, write=True)
    if incident.status == IncidentStatus.RESOLVED:
        raise IllegalTransition("The incident is resolved.", field="status")
    return incident


async def create(uow: UnitOfWork, principal: Principal, data: IncidentIn) -> Incident:
    _manager(principal)
    now = utcnow()
    incident = Incident(**data.model_dump(), created_by=principal.agent_id, created_at=now, updated_at=now)
    _check_window(incident)
    uow.session.add(incident)
    await uow.session.flush()
    await apply_rule(uow, incident)
    return incident


async def update(uow: UnitOfWork, principal: Principal, incident_id: int, data: IncidentUpdateIn) -> Incident:
    incident = await _open(uow, principal, incident_id)
    changes = data.model_dump(exclude_unset=True)
    for key in ("title", "status", "status_text"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null.", field=key)
    for key, value in changes.items():
        setattr(incident, key, value)
    _check_window(incident)
    incident.updated_at = utcnow()
    await uow.session.flush()
    if {"rule_topic", "rule_from", "rule_until"} & set(changes):
        await apply_rule(uow, incident)
    return incident


async def _link(
    uow: UnitOfWork, incident: Incident, found: Sequence[Ticket], how: str, actor: Actor
) -> list[int]:
    """Link ``found`` tickets not linked yet; one event per newly linked ticket."""
    already = await repository.linked_pairs(uow.session, [incident.id], [t.id for t in found])
    now = utcnow()
    added: list[int] = []
    for ticket in found:
        if (incident.id, ticket.id) in already or ticket.id in added:
            continue
        uow.session.add(
            IncidentTicket(incident_id=incident.id, ticket_id=ticket.id, linked_by=how, linked_at=now)
        )
        added.append(ticket.id)
        await events.record(
            uow,
            ticket_id=ticket.id,
            kind="incident_linked",
            actor=actor,
            data={"incident_id": incident.id, "linked_by": how},
            team_id=ticket.team_id,
            assignee_id=ticket.assignee_id,
        )
    if added:
        await uow.session.flush()
    return added


async def apply_rule(uow: UnitOfWork, incident: Incident) -> list[int]:
    """Link the existing tickets the rule describes (a rule also catches new ones: reactions)."""
    if not incident.rule_topic or incident.status == IncidentStatus.RESOLVED:
        return []
    found = [
        t
        for t in await repository.rule_candidates(uow.session, incident)
        if rules.rule_matches(
            rule_topic=incident.rule_topic,
            rule_from=incident.rule_from,
            rule_until=incident.rule_until,
            ticket_topic=t.topic,
            created_at=t.created_at,
        )
    ]
    return await _link(uow, incident, found, "rule", SYSTEM)


async def link_by_rules(uow: UnitOfWork, ticket_ids: Sequence[int]) -> dict[int, list[int]]:
    """New or re-topicked tickets join every active incident whose rule they match."""
    incidents = await repository.active_rules(uow.session)
    if not incidents or not ticket_ids:
        return {}
    found = [t for t in (await repository.tickets(uow.session, ticket_ids)).values() if t.topic]
    result: dict[int, list[int]] = {}
    for incident in incidents:
        matching = [
            t
            for t in found
            if t.merged_into_id is None
            and t.status != Status.CLOSED
            and rules.rule_matches(
                rule_topic=incident.rule_topic,
                rule_from=incident.rule_from,
                rule_until=incident.rule_until,
                ticket_topic=t.topic,
                created_at=t.created_at,
            )
        ]
        if matching:
            result[incident.id] = await _link(uow, incident, matching, "rule", SYSTEM)
    return result


async def link_by_hand(
    uow: UnitOfWork, principal: Principal, incident_id: int, ticket_ids: Sequence[int]
) -> list[int]:
    incident = await _open(uow, principal, incident_id)
    found = await repository.tickets(uow.session, ticket_ids)
    missing = sorted(set(ticket_ids) - set(found))
    if missing:
        raise InvalidInput(f"Ticket {missing[0]} does not exist.", field="ticket_ids")
    merged = [t.id for t in found.values() if t.merged_into_id is not None]
    if merged:
        raise InvalidInput(f"Ticket {merged[0]} was merged into another one.", field="ticket_ids")
    return await _link(uow, incident, [found[i] for i in sorted(found)], "hand", principal.actor)


async def unlink(uow: UnitOfWork, principal: Principal, incident_id: int, ticket_id: int) -> None:
    incident = await _open(uow, principal, incident_id)
    link = await repository.get_link(uow.session, incident.id, ticket_id)
    if link is None:
        raise NotFound(f"Ticket {ticket_id} is not linked to incident {incident_id}.")
    await uow.session.delete(link)
    ticket = (await repository.tickets(uow.session, [ticket_id]))[ticket_id]
    await events.record(
        uow,
        ticket_id=ticket_id,
        kind="incident_unlinked",
        actor=principal.actor,
        data={"incident_id": incident.id},
        team_id=ticket.team_id,
        assignee_id=ticket.assignee_id,
    )
    await uow.session.flush()


def _check_text(text: str) -> None:
    unknown = placeholders.unknown_in(text, known=KNOWN_VARIABLES)
    if unknown:
        raise InvalidInput(f"Unknown variable {{{{{unknown[0]}}}}}.", field="text", variables=unknown)


KNOWN_VARIABLES = ("customer.name", "customer.first_name", "ticket.number", "ticket.subject")


async def _post(
    uow: UnitOfWork, principal: Principal, incident: Incident, text: str, *, final: bool
) -> IncidentUpdate:
    _check_text(text)
    update_row = IncidentUpdate(
        incident_id=incident.id, text=text, is_final=final, author_id=principal.agent_id, created_at=utcnow()
    )
    uow.session.add(update_row)
    await uow.session.flush()
    targets = [
        t for t in await repository.linked(uow.session, incident.id) if rules.reachable(t.status, t.merged)
    ]
    for target in targets:
        await enqueue(
            uow,
            POST_TASK,
            {"update_id": update_row.id, "ticket_id": target.ticket_id},
            unique_key=f"incident-update:{update_row.id}:{target.ticket_id}",
        )
    update_row.tickets_queued = len(targets)
    incident.updated_at = update_row.created_at
    await uow.session.flush()
    return update_row


async def post_update(uow: UnitOfWork, principal: Principal, incident_id: int, text: str) -> IncidentUpdate:
    incident = await _open(uow, principal, incident_id)
    return await _post(uow, principal, incident, text, final=False)


async def resolve(uow: UnitOfWork, principal: Principal, incident_id: int, text: str) -> IncidentUpdate:
    """Resolve the incident; the final message goes to every linked customer and solves the ticket."""
    incident = await _open(uow, principal, incident_id)
    now = utcnow()
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = now
    incident.updated_at = now
    return await _post(uow, principal, incident, text, final=True)


def _acting(agent_id: int) -> Principal:
    # The author posted to every linked ticket when publishing; the job acts on that decision,
    # whatever team each ticket belongs to.
    return Principal(agent_id=agent_id, role=Role.SUPERVISOR, team_ids=frozenset(), via="system")


async def deliver_update(uow: UnitOfWork, update_id: int, ticket_id: int) -> int | None:
    """The job: one linked ticket gets the update as a public reply (and is solved if final)."""
    update_row = await uow.session.get(IncidentUpdate, update_id)
    tickets = await repository.tickets(uow.session, [ticket_id])
    ticket = tickets.get(ticket_id)
    if update_row is None or ticket is None or update_row.author_id is None:
        return None
    if not rules.reachable(ticket.status, ticket.merged_into_id is not None):
        return None
    name = await _customer_name(uow, ticket.customer_id)
    values: dict[str, str | None] = {
        "customer.name": name,
        "customer.first_name": name.split()[0] if name else "",
        "ticket.number": str(ticket.id),
        "ticket.subject": ticket.subject,
    }
    text = placeholders.render(update_row.text, values, known=KNOWN_VARIABLES)
    status: Any = Status.SOLVED if update_row.is_final else None
    message = await tickets_service.add_message(
        uow, _acting(update_row.author_id), ticket.id, MessageIn(text=text, status=status), ticket=ticket
    )
    message.metadata_ = {"incident_id": update_row.incident_id, "incident_update_id": update_row.id}
    await uow.session.flush()
    return message.id


async def _customer_name(uow: UnitOfWork, customer_id: int) -> str:
    customer = await uow.session.get(Customer, customer_id)
    return (customer.name or "").strip() if customer else ""
