"""All SQL of the chat widget."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opora.agents.models import Agent, Presence, Team, TeamMember
from opora.channels.models import Channel
from opora.channels.webchat.models import WebchatEmailCopy, WebchatVisitor
from opora.customers.models import CustomerIdentity
from opora.kit.readcache import cached, copy_row, watch
from opora.tickets.models import Attachment, DeliveryStatus, Direction, Message, Ticket

CHANNEL_TYPE = "webchat"


# Every widget frame and session looks its channel up by key; admins edit channels.
watch(Channel.__tablename__)


async def active_channels(session: AsyncSession) -> Sequence[Channel]:
    """Read-only copies from the process's cache (kit.readcache)."""

    async def load() -> tuple[Channel, ...]:
        query = select(Channel).where(Channel.type == CHANNEL_TYPE, Channel.is_active.is_(True))
        return tuple(copy_row(row) for row in await session.scalars(query))

    return await cached(session, "webchat.active_channels", load)


async def visitor_by_token(
    session: AsyncSession, token_hash: str, *, lock: bool = False
) -> WebchatVisitor | None:
    query = select(WebchatVisitor).where(WebchatVisitor.token_hash == token_hash)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def insert_visitor(session: AsyncSession, visitor: WebchatVisitor) -> WebchatVisitor:
    session.add(visitor)
    await session.flush()
    return visitor


def _own_messages(channel_id: int, key: str) -> Sequence[object]:
    # A visitor's messages are the external ids "key:client_id": a range of the unique
    # (channel_id, external_id) index (";" sorts right after ":").
    return (
        Message.channel_id == channel_id,
        Message.external_id >= f"{key}:",
        Message.external_id < f"{key};",
    )


async def visitor_ticket_ids(session: AsyncSession, channel_id: int, key: str) -> list[int]:
    query = select(Message.ticket_id).where(*_own_messages(channel_id, key)).distinct()  # type: ignore[arg-type]
    return sorted(set((await session.scalars(query)).all()))


async def history(
    session: AsyncSession,
    ticket_ids: Sequence[int],
    *,
    after_id: int,
    limit: int,
    since: datetime | None = None,
) -> list[Message]:
    """The newest ``limit`` public messages after ``after_id`` (with ``since``, also those
    created since then, but for ``after_id`` itself), oldest first."""
    if not ticket_ids:
        return []
    newer = Message.id > after_id
    if since is not None:
        newer = or_(newer, and_(Message.created_at >= since, Message.id != after_id))
    query = (
        select(Message)
        .where(Message.ticket_id.in_(ticket_ids), Message.is_internal.is_(False), newer)
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return list(reversed((await session.scalars(query)).all()))


async def message_created_at(session: AsyncSession, message_id: int) -> datetime | None:
    return await session.scalar(select(Message.created_at).where(Message.id == message_id))


async def messages_by_id(session: AsyncSession, message_ids: Sequence[int]) -> list[Message]:
    if not message_ids:
        return []
    query = select(Message).where(Message.id.in_(message_ids)).order_by(Message.id)
    return list((await session.scalars(query)).all())


async def agent_names(session: AsyncSession, agent_ids: Sequence[int]) -> dict[int, str]:
    if not agent_ids:
        return {}
    rows = await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(agent_ids)))
    return {agent_id: name for agent_id, name in rows.all()}


async def attachments_of(session: AsyncSession, message_ids: Sequence[int]) -> dict[int, list[Attachment]]:
    result: dict[int, list[Attachment]] = {m: [] for m in message_ids}
    if message_ids:
        query = select(Attachment).where(Attachment.message_id.in_(message_ids)).order_by(Attachment.id)
        for row in (await session.scalars(query)).all():
            if row.message_id is not None:
                result[row.message_id].append(row)
    return result


async def mark_read(
    session: AsyncSession, ticket_ids: Sequence[int], message_ids: Sequence[int], *, lock: bool
) -> list[tuple[int, int]]:
    """Those of ``message_ids`` that are unread public replies in ``ticket_ids``, now read;
    (message id, ticket id) of each. Ids of other tickets are ignored, not refused."""
    if not ticket_ids or not message_ids:
        return []
    unread = (
        select(Message.id, Message.ticket_id)
        .where(
            Message.ticket_id.in_(ticket_ids),
            Message.direction == Direction.OUT,
            Message.is_internal.is_(False),
            Message.id.in_(message_ids),
            Message.delivery_status.in_(
                [DeliveryStatus.QUEUED, DeliveryStatus.SENT, DeliveryStatus.DELIVERED]
            ),
        )
        .order_by(Message.id)
    )
    if lock:
        unread = unread.with_for_update()
    rows = [(message_id, ticket_id) for message_id, ticket_id in (await session.execute(unread)).all()]
    if rows:
        await session.execute(
            update(Message)
            .where(Message.id.in_([m for m, _ in rows]))
            .values(delivery_status=DeliveryStatus.READ)
            .execution_options(synchronize_session=False)
        )
    return rows


async def tickets(session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, Ticket]:
    if not ticket_ids:
        return {}
    return {t.id: t for t in (await session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids)))).all()}


async def online_agents(session: AsyncSession, team_id: int | None) -> int:
    query = (
        select(func.count())
        .select_from(Agent)
        .where(Agent.is_active.is_(True), Agent.presence == Presence.ONLINE, Agent.role != "readonly")
    )
    if team_id is not None:
        query = query.where(Agent.id.in_(select(TeamMember.agent_id).where(TeamMember.team_id == team_id)))
    return int((await session.scalar(query)) or 0)


async def team_calendar_id(session: AsyncSession, team_id: int) -> int | None:
    return await session.scalar(select(Team.calendar_id).where(Team.id == team_id))


async def attachment_with_message(
    session: AsyncSession, attachment_id: int
) -> tuple[Attachment, Message] | None:
    row = (
        await session.execute(
            select(Attachment, Message)
            .join(Message, Message.id == Attachment.message_id)
            .where(Attachment.id == attachment_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def visitor_by_key(session: AsyncSession, key: str) -> WebchatVisitor | None:
    return (await session.scalars(select(WebchatVisitor).where(WebchatVisitor.key == key))).first()


async def visitors_wanting_human(session: AsyncSession, keys: Sequence[str]) -> dict[str, WebchatVisitor]:
    if not keys:
        return {}
    query = select(WebchatVisitor).where(WebchatVisitor.key.in_(keys), WebchatVisitor.wants_human.is_(True))
    return {v.key: v for v in (await session.scalars(query)).all()}


# -- replies by e-mail -----------------------------------------------------------------------------


async def chat_replies(
    session: AsyncSession, message_ids: Sequence[int]
) -> list[tuple[Message, Ticket, Channel]]:
    """Agents' public replies among ``message_ids`` that go out on a chat channel."""
    if not message_ids:
        return []
    query = (
        select(Message, Ticket, Channel)
        .join(Ticket, Ticket.id == Message.ticket_id)
        .join(Channel, Channel.id == Message.channel_id)
        .where(
            Message.id.in_(message_ids),
            Message.direction == Direction.OUT,
            Message.is_internal.is_(False),
            Message.author_type == "agent",
            Channel.type == CHANNEL_TYPE,
        )
        .order_by(Message.id)
    )
    return [(m, t, c) for m, t, c in (await session.execute(query)).all()]


async def last_inbound(
    session: AsyncSession, ticket_id: int, channel_id: int | None = None
) -> Message | None:
    """The ticket's newest customer message, on ``channel_id`` or on any channel."""
    query = select(Message).where(Message.ticket_id == ticket_id, Message.direction == Direction.IN)
    if channel_id is not None:
        query = query.where(Message.channel_id == channel_id)
    return (await session.scalars(query.order_by(Message.id.desc()).limit(1))).first()


async def first_active_channel(session: AsyncSession, type_name: str) -> Channel | None:
    query = (
        select(Channel)
        .where(Channel.type == type_name, Channel.is_active.is_(True))
        .order_by(Channel.id)
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def insert_copy(session: AsyncSession, copy: WebchatEmailCopy) -> WebchatEmailCopy:
    session.add(copy)
    await session.flush()
    return copy


async def copy_of(session: AsyncSession, message_id: int, *, lock: bool = False) -> WebchatEmailCopy | None:
    query = select(WebchatEmailCopy).where(WebchatEmailCopy.message_id == message_id)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def sent_mail_ids(session: AsyncSession, ticket_id: int, limit: int) -> list[str]:
    """Message-IDs of the ticket's earlier mailed replies, oldest first (for References)."""
    query = (
        select(WebchatEmailCopy.mail_id)
        .where(WebchatEmailCopy.ticket_id == ticket_id, WebchatEmailCopy.mail_id.is_not(None))
        .order_by(WebchatEmailCopy.id.desc())
        .limit(limit)
    )
    return [m for m in reversed((await session.scalars(query)).all()) if m]


async def tickets_by_mail_id(
    session: AsyncSession, refs: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], int]:
    """(e-mail channel id, Message-ID of a mailed reply) → the chat ticket it belongs to."""
    if not refs:
        return {}
    ids = sorted({mail_id for _, mail_id in refs})
    query = select(
        WebchatEmailCopy.email_channel_id, WebchatEmailCopy.mail_id, WebchatEmailCopy.ticket_id
    ).where(WebchatEmailCopy.mail_id.in_(ids))
    wanted = set(refs)
    found: dict[tuple[int, str], int] = {}
    for channel_id, mail_id, ticket_id in (await session.execute(query)).all():
        if channel_id is not None and mail_id and (channel_id, mail_id) in wanted:
            found[(channel_id, mail_id)] = ticket_id
    return found


async def copies_of_tickets(session: AsyncSession, ticket_ids: Sequence[int]) -> list[WebchatEmailCopy]:
    if not ticket_ids:
        return []
    query = select(WebchatEmailCopy).where(WebchatEmailCopy.ticket_id.in_(ticket_ids))
    return list((await session.scalars(query)).all())


async def ticket_count(session: AsyncSession, customer_id: int) -> int:
    query = select(func.count()).select_from(Ticket).where(Ticket.customer_id == customer_id)
    return int(await session.scalar(query) or 0)


async def identities(session: AsyncSession, customer_id: int) -> list[tuple[str, str]]:
    query = select(CustomerIdentity.kind, CustomerIdentity.value).where(
        CustomerIdentity.customer_id == customer_id
    )
    return [(k, v) for k, v in (await session.execute(query)).all()]
