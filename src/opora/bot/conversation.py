"""The bot in the channels: who it talks to, what it answers, and how it hands over.

Two halves, so that inbound stays fast and a bot failure never loses a message:

- :func:`on_messages` runs inside the transaction that stored customer messages (a reactor,
  before SLA, routing and rules). It only decides whether a ticket is in bot mode — a new
  ticket on a channel where the bot talks, in a language with a trained model — records that,
  and queues the job ``bot.respond`` for the message. Routing and the auto-acknowledgement skip
  tickets in bot mode.
- :func:`respond` is that job. It plans the answer with reads only (classification, the
  intent, the article, the customer's order) inside a savepoint; any error there hands the
  ticket off instead. Then it writes: bot messages through the outbox, the conversation's new
  step, and at the end the ``bot_resolved`` or ``bot_handoff`` event that analytics counts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from opora.ai.enrich import extract_order_numbers as bare_order_numbers
from opora.bot import channels, flow, service, texts
from opora.bot import repository as repo
from opora.bot.embeddings import Embedder
from opora.bot.engine import Prediction
from opora.bot.flow import Action, Decision, IntentInfo, Reason, Step
from opora.bot.models import OUT_OF_SCOPE, BotConversation, BotIntent, ConversationStatus
from opora.bot.texts import Reply
from opora.channels.models import Channel
from opora.customers.models import Customer
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.reactions import Fact
from opora.events.service import Actor
from opora.jobs.service import enqueue
from opora.kb.links import article_url
from opora.kb.models import ArticleStatus, KbArticle
from opora.kit import readcache
from opora.kit.time import utcnow
from opora.shop import service as shop_service
from opora.shop.models import Order
from opora.shop.text import extract_order_numbers
from opora.sla import autoreply
from opora.tickets import service as tickets_service
from opora.tickets.lifecycle import Status
from opora.tickets.models import AuthorType, DeliveryStatus, Direction, Message, Ticket

log = logging.getLogger(__name__)

RESPOND_TASK = "bot.respond"
BOT = Actor("bot")
# The tag the widget's "Talk to a person" button puts on the conversation (channels/webchat).
HUMAN_TAG = "human_requested"
RESOLVED_EVENT = "bot_resolved"  # read by analytics (bot_resolution_rate)
HANDOFF_EVENT = "bot_handoff"  # read by analytics (bot_handoff_rate) and routing


# --- entering bot mode (inside the inbound transaction) -------------------------------------


async def on_messages(uow: UnitOfWork, facts: Sequence[Fact]) -> None:
    created = {f.ticket_id for f in facts if f.kind == "ticket_created"}
    inbound = [
        int(f.data["message_id"])
        for f in facts
        if f.kind == "message_added"
        and f.data.get("direction") == Direction.IN
        and f.data.get("author_type") == AuthorType.CUSTOMER
        and not f.data.get("internal")
    ]
    replied = {
        f.ticket_id
        for f in facts
        if f.kind == "message_added"
        and f.data.get("author_type") == AuthorType.AGENT
        and not f.data.get("internal")
    }
    session = uow.session
    asked = {f.ticket_id for f in facts if f.kind == "tags_changed" and _newly_tagged(f, HUMAN_TAG)}
    if asked:
        # "Talk to a person" in the widget: the customer asked, so a person it is, at once.
        for conv in (await repo.conversations(session, asked)).values():
            ticket = await session.get(Ticket, conv.ticket_id)
            if conv.status == ConversationStatus.ACTIVE and ticket is not None:
                reply = await _handoff_reply(uow, ticket, conv.language)
                await post(uow, ticket, reply.text)
                await _end(uow, ticket, conv, Reason.HANDOFF_INTENT)
    if replied:
        # An agent who answers a ticket the bot holds takes it over.
        for conv in (await repo.conversations(session, replied)).values():
            if conv.status == ConversationStatus.ACTIVE:
                ticket = await session.get(Ticket, conv.ticket_id)
                if ticket is not None:
                    await _end(uow, ticket, conv, Reason.AGENT_REPLIED)
    if not inbound:
        return
    messages = list(
        (
            await session.scalars(select(Message).where(Message.id.in_(sorted(inbound))).order_by(Message.id))
        ).all()
    )
    tickets = {
        t.id: t
        for t in await session.scalars(
            select(Ticket).where(Ticket.id.in_(sorted({m.ticket_id for m in messages})))
        )
    }
    known = await repo.conversations(session, tickets)
    candidates = [
        t
        for t in tickets.values()
        if t.id not in known and t.id in created and t.id not in asked and _may_start(t)
    ]
    bots = await _channel_bots(uow, sorted({t.channel_id for t in candidates if t.channel_id}))
    models: dict[str, bool] = {}
    first = {m.ticket_id: m for m in reversed(messages)}
    for ticket in candidates:
        message = first[ticket.id]
        language = texts.lang(_language(ticket, message))
        bot = bots.get(ticket.channel_id or 0)
        if (
            bot is None
            or not channels.talks(bot, language)
            or not autoreply.may_answer(message.metadata_ or {})
        ):
            continue
        if language not in models:
            models[language] = await repo.has_active_model(session, language)
        if not models[language]:
            continue  # nothing trained: the bot could only hand off, so it stays out of the way
        conv = BotConversation(
            ticket_id=ticket.id, channel_id=ticket.channel_id, language=language, step=Step.QUESTION
        )
        session.add(conv)
        known[ticket.id] = conv
    await session.flush()
    for message in messages:
        held = known.get(message.ticket_id)
        if held is not None and held.status == ConversationStatus.ACTIVE:
            await enqueue(
                uow, RESPOND_TASK, {"message_id": message.id}, unique_key=f"{RESPOND_TASK}:{message.id}"
            )


def _newly_tagged(fact: Fact, tag: str) -> bool:
    tags = fact.data.get("tags") or {}
    return tag in (tags.get("new") or []) and tag not in (tags.get("old") or [])


def _language(ticket: Ticket, message: Message) -> str | None:
    """The language the customer wrote in (enrichment's guess) before the channel's hint (a
    widget on a Russian page may still get an English question)."""
    meta = message.metadata_ or {}
    detected = (meta.get("ai") or {}).get("language") if isinstance(meta.get("ai"), dict) else None
    return detected or ticket.language or meta.get("language")


def _may_start(ticket: Ticket) -> bool:
    return (
        ticket.status == Status.NEW
        and ticket.assignee_id is None
        and ticket.first_response_at is None
        and ticket.channel_id is not None
        and ticket.merged_into_id is None
    )


async def _channel_bots(uow: UnitOfWork, channel_ids: Sequence[int]) -> dict[int, channels.ChannelBot]:
    if not channel_ids:
        return {}

    async def load() -> dict[int, channels.ChannelBot]:
        rows = (await uow.session.scalars(select(Channel).where(Channel.is_active.is_(True)))).all()
        return {b.channel_id: b for b in await channels.for_channels(uow, list(rows))}

    # Every new conversation asks; a desk has a handful of channels (kit.readcache).
    every = await readcache.cached(uow.session, "bot.channel_bots", load)
    return {channel_id: every[channel_id] for channel_id in channel_ids if channel_id in every}


# --- answering (the job) --------------------------------------------------------------------


@dataclass
class Plan:
    decision: Decision
    prediction: Prediction | None = None
    replies: list[Reply] = field(default_factory=list)


async def respond(
    uow: UnitOfWork, message_id: int, *, public_url: str, embedder: Embedder | None = None
) -> Plan | None:
    """Answer one customer message of a ticket in bot mode; None when there is nothing to do
    (the ticket left bot mode meanwhile, or the message was answered already)."""
    session = uow.session
    message = await session.get(Message, message_id)
    if message is None:
        return None
    conv = await repo.conversation(session, message.ticket_id, lock=not uow.is_sqlite)
    ticket = await session.get(Ticket, message.ticket_id)
    if (
        conv is None
        or ticket is None
        or conv.status != ConversationStatus.ACTIVE
        or (conv.last_message_id is not None and message.id <= conv.last_message_id)
    ):
        return None
    try:
        # Reads only; the savepoint keeps a failed statement from spoiling the transaction.
        async with session.begin_nested():
            plan = await _plan(uow, conv, ticket, message, public_url=public_url, embedder=embedder)
    except Exception:
        log.exception("the bot failed on message %s; handing ticket %s to a person", message_id, ticket.id)
        await session.refresh(conv)
        await session.refresh(ticket)
        plan = Plan(flow.hand_off(Reason.BOT_ERROR))
        try:
            async with session.begin_nested():
                plan.replies.append(await _handoff_reply(uow, ticket, conv.language))
        except Exception:
            log.exception("no SLA promise for ticket %s", ticket.id)
            plan.replies.append(Reply(texts.handoff(conv.language, None)))
    await _apply(uow, ticket, conv, message, plan)
    return plan


async def _plan(
    uow: UnitOfWork,
    conv: BotConversation,
    ticket: Ticket,
    message: Message,
    *,
    public_url: str,
    embedder: Embedder | None,
) -> Plan:
    session = uow.session
    language = conv.language
    step = Step(conv.step)
    meta = message.metadata_ or {}
    quick = meta.get("quick_reply") if isinstance(meta.get("quick_reply"), str) else None
    feedback = flow.parse_feedback(message.text or "", quick) if step == Step.FEEDBACK else None
    numbers = _order_numbers(message.text or "", bare=step == Step.ORDER_NUMBER)
    prediction: Prediction | None = None
    intent: BotIntent | None = None
    article: KbArticle | None = None
    if flow.needs_classification(step, feedback):
        prediction = await service.classify(uow, message.text or "", language, embedder=embedder)
        if prediction.intent and prediction.intent != OUT_OF_SCOPE:
            intent = await repo.intent_by_key(session, language, prediction.intent)
            if intent is not None and not intent.enabled:
                intent = None
        if intent is not None and intent.kb_article_id is not None:
            article = await repo.kb_article(session, intent.kb_article_id)
            if article is not None and (article.status != ArticleStatus.PUBLISHED or article.internal):
                article = None  # a draft or an internal article is never shown to customers
    info = (
        IntentInfo(intent.key, intent.handoff, bool(intent.reply.strip()) or article is not None)
        if intent is not None
        else None
    )
    decision = flow.decide(
        step,
        rephrased=conv.rephrased,
        feedback=feedback,
        order_numbers=numbers,
        prediction=prediction,
        intent=info,
    )
    plan = Plan(decision, prediction)
    order: Order | None = None
    if decision.action == Action.LOOK_UP_ORDER:
        number = decision.order_number or ""
        order = await shop_service.find_order(uow, number=number, customer_id=ticket.customer_id)
        plan.decision = decision = flow.after_lookup(order is not None)
        if order is None:
            plan.replies.append(Reply(texts.text(language, "order_not_found", number=number)))
    customer = await session.get(Customer, ticket.customer_id)
    values = _values(ticket, customer, numbers)
    if decision.action == Action.ANSWER:
        if order is not None:
            template = intent.reply if intent is not None and intent.key == flow.ORDER_STATUS_INTENT else ""
            if not template:
                stored = await repo.intent_by_key(session, language, flow.ORDER_STATUS_INTENT)
                template = stored.reply if stored is not None else ""
            order_values = texts.order_values(
                language,
                number=order.number,
                status=order.status,
                delivery_method=order.delivery_method,
                tracking_number=order.tracking_number,
                tracking_url=order.tracking_url,
            )
            body = texts.order_answer(language, template, {**values, **order_values})
        elif article is not None and not (intent is not None and intent.reply.strip()):
            link = article_url(public_url, article.language, article.slug)
            body = texts.article_answer(language, article.title, article.body_text, link)
        else:
            body = texts.template_answer(intent.reply if intent is not None else "", values)
        plan.replies.append(texts.with_feedback(body, language, ticket.channel_type))
    elif decision.action == Action.ASK_ORDER_NUMBER:
        plan.replies.append(Reply(texts.text(language, "ask_order")))
    elif decision.action == Action.ASK_REPHRASE:
        plan.replies.append(Reply(texts.text(language, "rephrase")))
    elif decision.action == Action.RESOLVE:
        plan.replies.append(Reply(texts.text(language, "resolved")))
    elif decision.action == Action.HAND_OFF:
        plan.replies.append(await _handoff_reply(uow, ticket, language))
    return plan


def _order_numbers(text: str, *, bare: bool) -> tuple[str, ...]:
    """Numbers after a keyword ("заказ 1234"); when the bot asked for one, a bare number too."""
    found = extract_order_numbers(text)
    if not found and bare:
        found = bare_order_numbers(text)
        if not found:
            words = text.strip().lstrip("#№").split()
            if len(words) == 1 and any(ch.isdigit() for ch in words[0]) and len(words[0]) >= 3:
                found = [words[0].strip(".,;!?")]
    return tuple(found)


def _values(ticket: Ticket, customer: Customer | None, numbers: tuple[str, ...]) -> dict[str, str | None]:
    name = (customer.name if customer else "").strip()
    return {
        "customer.name": name,
        "customer.first_name": name.split()[0] if name else "",
        "ticket.number": str(ticket.id),
        "ticket.subject": ticket.subject,
        "ticket.status": ticket.status,
        "order.number": numbers[0] if numbers else "",
    }


async def _handoff_reply(uow: UnitOfWork, ticket: Ticket, language: str) -> Reply:
    """An honest promise: the first-response target's time, phrased like the auto-ack."""
    expected = (await autoreply.expected_replies(uow, [ticket.id], now=utcnow())).get(ticket.id)
    return Reply(texts.handoff(language, expected))


async def _apply(
    uow: UnitOfWork, ticket: Ticket, conv: BotConversation, message: Message, plan: Plan
) -> None:
    now = utcnow()
    conv.last_message_id = message.id
    conv.updated_at = now
    if plan.prediction is not None:
        conv.intent = plan.prediction.intent
        conv.confidence = plan.prediction.confidence
        conv.model_version = plan.prediction.model_version
    if plan.decision.action == Action.ASK_REPHRASE:
        conv.rephrased = True
    conv.step = plan.decision.next_step
    for reply in plan.replies:
        await post(uow, ticket, reply.text, quick_replies=reply.quick_replies, step=conv.step)
    if plan.decision.action == Action.HAND_OFF:
        await _end(uow, ticket, conv, plan.decision.reason or Reason.NO_ANSWER)
    elif plan.decision.action == Action.RESOLVE:
        await _end(uow, ticket, conv, None)
        if Status(ticket.status) not in (Status.SOLVED, Status.CLOSED):
            await tickets_service.change_status(uow, ticket, Status.SOLVED, BOT)
    await uow.session.flush()


async def _end(uow: UnitOfWork, ticket: Ticket, conv: BotConversation, reason: Reason | None) -> None:
    """Leave bot mode: resolved (``reason`` None) or handed off, with the event analytics counts.

    On a hand-off the agent gets an internal note with the intent and confidence, and the
    ``bot_handoff`` event lets routing queue the ticket as usual.
    """
    now = utcnow()
    conv.status = ConversationStatus.HANDED_OFF if reason is not None else ConversationStatus.RESOLVED
    conv.end_reason = reason
    conv.ended_at = now
    conv.updated_at = now
    await uow.session.flush()
    data: dict[str, Any] = {
        "intent": conv.intent,
        "confidence": conv.confidence,
        "model_version": conv.model_version,
        "language": conv.language,
    }
    if reason is not None:
        data["reason"] = reason
    if reason is not None and reason != Reason.AGENT_REPLIED:
        await post(
            uow, ticket, texts.agent_note(conv.language, reason, conv.intent, conv.confidence), internal=True
        )
    await events.record(
        uow,
        ticket_id=ticket.id,
        kind=HANDOFF_EVENT if reason is not None else RESOLVED_EVENT,
        actor=BOT,
        data=data,
        team_id=ticket.team_id,
        assignee_id=ticket.assignee_id,
    )


async def post(
    uow: UnitOfWork,
    ticket: Ticket,
    text: str,
    *,
    internal: bool = False,
    quick_replies: Sequence[tuple[str, str]] = (),
    step: str | None = None,
) -> Message:
    """A message written by the bot: shown as the bot's in the timeline, sent through the outbox."""
    now = utcnow()
    queued = not internal and ticket.channel_id is not None
    metadata: dict[str, Any] = {"automatic": True, "bot": {"step": step} if step else {}}
    if quick_replies:
        metadata["quick_replies"] = [[label, payload] for label, payload in quick_replies]
    message = Message(
        ticket_id=ticket.id,
        direction=Direction.OUT,
        author_type=AuthorType.BOT,
        is_internal=internal,
        text=text,
        channel_type=ticket.channel_type,
        channel_id=ticket.channel_id if queued else None,
        delivery_status=DeliveryStatus.QUEUED if queued else DeliveryStatus.NOT_SENT,
        metadata_=metadata,
        created_at=now,
    )
    uow.session.add(message)
    await uow.session.flush()
    await tickets_service.announce_message(
        uow, message, BOT, team_id=ticket.team_id, assignee_id=ticket.assignee_id
    )
    ticket.updated_at = now
    return message
