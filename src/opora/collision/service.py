"""Ticket activity: announce that an agent views, types on or left a ticket.

Nothing is stored: activity is published on the bus topic ``activity`` and the live stream
forwards it to the other agents who may see the ticket. A browser repeats "viewing" while the
ticket stays open and "typing" while the agent types; others forget an agent whose last frame
is older than ``EXPIRES_SECONDS``, so a closed laptop stops warning colleagues on its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opora.agents.models import Agent
from opora.auth.permissions import Principal
from opora.collision.schemas import ActivityState
from opora.db import UnitOfWork
from opora.kit.time import utcnow
from opora.tickets.service import visible_ticket

TOPIC = "activity"
# Browsers repeat "viewing" every ~20 s and "typing" every few seconds while keys are pressed.
EXPIRES_SECONDS = 60


def activity_message(
    *,
    ticket_id: int,
    team_id: int | None,
    assignee_id: int | None,
    agent_id: int,
    agent_name: str,
    state: ActivityState,
    at: datetime,
) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "team_id": team_id,
        "assignee_id": assignee_id,
        "agent_id": agent_id,
        "agent_name": agent_name,
        "state": str(state),
        "at": at.isoformat(),
        "expires_in": EXPIRES_SECONDS,
    }


async def announce(uow: UnitOfWork, principal: Principal, ticket_id: int, state: ActivityState) -> datetime:
    """Check the caller may see the ticket, then publish its activity once the request ends well."""
    ticket = await visible_ticket(uow, principal, ticket_id)
    agent = await uow.session.get(Agent, principal.agent_id)
    at = utcnow()
    uow.publish(
        TOPIC,
        activity_message(
            ticket_id=ticket.id,
            team_id=ticket.team_id,
            assignee_id=ticket.assignee_id,
            agent_id=principal.agent_id,
            agent_name=agent.name if agent else "",
            state=state,
            at=at,
        ),
    )
    return at
