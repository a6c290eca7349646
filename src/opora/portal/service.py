"""Portal sign-in and the customer's own tickets (ADR 0024).

A customer types an e-mail address; if it is an e-mail identity of a customer, a signed link
valid for ``LINK_TTL`` is mailed by a job. Opening the link (a POST from the page it shows, so
mail scanners that fetch links do not spend it) marks it used and opens a portal session: a
random cookie whose hash is stored on the same row. The session sees the tickets of that customer
(or of the customer it was merged into) and their public messages, nothing else.

The answer to a request is the same whether or not the address is known, so the form does not
tell strangers who our customers are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from opora.agents.models import Role
from opora.auth.permissions import Principal
from opora.channels.models import Channel
from opora.customers import identity
from opora.customers import repository as customers_repository
from opora.customers.models import IdentityKind
from opora.customers.service import resolve_customer
from opora.db import UnitOfWork
from opora.events.service import Actor
from opora.jobs.service import enqueue
from opora.kit.crypto import new_token, sha256_hex
from opora.kit.errors import AppError, Conflict, InvalidInput, NotFound, Unauthenticated
from opora.portal import links, repository
from opora.portal.models import PortalLogin
from opora.tickets import service as tickets_service
from opora.tickets.models import Message, Ticket
from opora.tickets.schemas import MAX_TEXT, MessageIn

SEND_TASK = "portal.send_login_link"
LINK_TTL = timedelta(minutes=30)
SESSION_TTL = timedelta(days=7)
# Requests per address per hour: enough for a lost mail or two, too few to flood a mailbox.
MAX_REQUESTS_PER_HOUR = 5
MAX_TICKETS = 100
SOURCE = "portal"


class NoEmailChannel(AppError):
    status_code = 503
    code = "no_email_channel"


class LinkRefused(AppError):
    status_code = 410
    code = "link_refused"


@dataclass(frozen=True)
class PortalSession:
    login: PortalLogin
    customer_id: int
    email: str
    csrf_token: str


@dataclass(frozen=True)
class CustomerPrincipal(Principal):
    """The signed-in customer writing into their own ticket: events name the customer."""

    customer_id: int = 0

    @property
    def actor(self) -> Actor:
        return Actor("customer", self.customer_id)


async def mail_channel(uow: UnitOfWork) -> Channel | None:
    """An active e-mail channel that can send (has an SMTP server): the links go out through it."""
    for channel in await repository.active_channels(uow.session, ("email",)):
        if channel.settings.get("smtp_host"):
            return channel
    return None


async def request_link(uow: UnitOfWork, email: str, *, language: str, now: datetime) -> None:
    """Queue a sign-in link for ``email`` if it belongs to a customer; silent otherwise."""
    address = identity.normalize_email(email.strip(), field="email")
    if await mail_channel(uow) is None:
        raise NoEmailChannel("Signing in by e-mail is not available: no e-mail channel can send mail.")
    if await repository.recent_requests(uow.session, address, since=now - timedelta(hours=1)) >= (
        MAX_REQUESTS_PER_HOUR
    ):
        return
    found = await customers_repository.find_identity(uow.session, IdentityKind.EMAIL, address)
    if found is None:
        return
    customer = await resolve_customer(uow, found.customer_id)
    login = await repository.insert_login(
        uow.session,
        PortalLogin(
            customer_id=customer.id,
            email=address,
            language=language,
            link_expires_at=now + LINK_TTL,
            created_at=now,
        ),
    )
    await enqueue(uow, SEND_TASK, {"login_id": login.id}, unique_key=f"{SEND_TASK}:{login.id}")


async def check_link(uow: UnitOfWork, key: bytes, token: str, now: datetime) -> PortalLogin:
    """The row behind a genuine, unexpired, unused link; LinkRefused otherwise."""
    try:
        login_id, expires = links.verify(key, token, now)
    except links.BadLink as exc:
        raise LinkRefused("This sign-in link is not valid or has expired.") from exc
    login = await repository.get_login(uow.session, login_id, lock=True)
    # The stored expiry is the one that counts; a link signed for another one is not this login's.
    if login is None or login.link_expires_at <= now or int(login.link_expires_at.timestamp()) != expires:
        raise LinkRefused("This sign-in link is not valid or has expired.")
    if login.used_at is not None:
        raise LinkRefused("This sign-in link was already used.")
    return login


async def open_session(uow: UnitOfWork, key: bytes, token: str, now: datetime) -> tuple[str, PortalLogin]:
    """Spend the link and open a session: the cookie value (only the hash is stored)."""
    login = await check_link(uow, key, token, now)
    cookie = new_token()
    login.used_at = now
    login.session_hash = sha256_hex(cookie)
    login.session_expires_at = now + SESSION_TTL
    await uow.session.flush()
    return cookie, login


async def authenticate(uow: UnitOfWork, key: bytes, cookie: str | None, now: datetime) -> PortalSession:
    if not cookie or len(cookie) > 200:
        raise Unauthenticated("Sign in to see your requests.")
    login = await repository.login_by_session(uow.session, sha256_hex(cookie))
    if (
        login is None
        or login.ended_at is not None
        or login.session_expires_at is None
        or login.session_expires_at <= now
    ):
        raise Unauthenticated("Sign in to see your requests.")
    customer = await resolve_customer(uow, login.customer_id)
    return PortalSession(login, customer.id, login.email, links.csrf_token(key, cookie))


async def end_session(uow: UnitOfWork, session: PortalSession, now: datetime) -> None:
    session.login.ended_at = now
    await uow.session.flush()


async def my_tickets(uow: UnitOfWork, session: PortalSession) -> Sequence[Ticket]:
    return await repository.customer_tickets(uow.session, session.customer_id, limit=MAX_TICKETS)


async def my_ticket(
    uow: UnitOfWork, session: PortalSession, ticket_id: int, *, lock: bool = False
) -> tuple[Ticket, Sequence[Message]]:
    """One of the customer's tickets with its public messages. Someone else's ticket does not
    exist here (404, not 403: its existence is none of the visitor's business)."""
    ticket = await repository.get_ticket(uow.session, ticket_id, lock=lock) if ticket_id < 2**62 else None
    if ticket is None or ticket.customer_id != session.customer_id or ticket.merged_into_id is not None:
        raise NotFound("This request does not exist.")
    return ticket, await repository.public_messages(uow.session, ticket.id)


async def reply(uow: UnitOfWork, session: PortalSession, ticket_id: int, text: str) -> Message:
    """The customer's message joins the ticket as an inbound customer message: the ticket service
    records the event, reopens a solved ticket, and the reactions (SLA, routing, notifications)
    see it like any other customer message."""
    cleaned = text.strip()
    if not cleaned:
        raise InvalidInput("Write a message.", field="text")
    if len(cleaned) > MAX_TEXT:
        raise InvalidInput(f"A message is at most {MAX_TEXT} characters.", field="text")
    ticket, _ = await my_ticket(uow, session, ticket_id, lock=True)
    if ticket.status == "closed":
        raise Conflict("This request is closed; send a new one instead.", field="text")
    principal = CustomerPrincipal(
        agent_id=cast(int, None),
        role=Role.AGENT,
        team_ids=frozenset(),
        via=SOURCE,
        customer_id=session.customer_id,
    )
    message = await tickets_service.add_message(
        uow,
        principal,
        ticket.id,
        MessageIn(text=cleaned, author="customer"),
        ticket=ticket,
        customer_id=session.customer_id,
    )
    message.metadata_ = {**(message.metadata_ or {}), "via": SOURCE}
    await uow.session.flush()
    return message
