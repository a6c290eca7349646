"""A desk where the bot talks: a Telegram channel, an SLA target, English intents trained with
the hashing test encoder, a published article and a customer's orders."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import count
from typing import Any

from sqlalchemy import select

import opora.channels.telegram  # noqa: F401  (registers the channel type)
from opora.bot import conversation, service
from opora.bot.engine import Prediction
from opora.bot.models import BotConversation, BotModel, BotSettings
from opora.bot.schemas import IntentCreate
from opora.channels.models import Channel
from opora.events.models import TicketEvent
from opora.inbox import service as inbox
from opora.jobs.models import Job
from opora.kb.models import ArticleStatus, KbArticle
from opora.runtime import Runtime
from opora.shop.models import Order, Shop
from opora.sla.models import SlaPolicy
from opora.tickets.models import Message, Ticket
from tests.bot.fakes import WordHashEmbedder

INTENTS: dict[str, tuple[str, bool, list[str]]] = {
    "delivery": (
        "{{customer.first_name|Hello}}, delivery takes 1–2 days.",
        False,
        [
            "how much is delivery",
            "delivery cost",
            "how long does delivery take",
            "when will delivery arrive",
            "delivery price please",
            "do you offer free delivery",
        ],
    ),
    "returns": (
        "",
        False,
        [
            "how to return an item",
            "I want to return a product",
            "return policy",
            "can I return shoes",
            "return item please",
            "returning goods rules",
        ],
    ),
    "order_status": (
        "Order {{order.number}}: {{order.status}}.",
        False,
        [
            "where is my order",
            "order status",
            "track my order",
            "status of my order",
            "my order has not arrived",
            "what happened to my order",
        ],
    ),
    "human": (
        "",
        True,
        [
            "talk to a person",
            "I want a human",
            "operator please",
            "connect me to a person",
            "human agent please",
            "let me speak to a real person",
        ],
    ),
    "__oos__": (
        "",
        False,
        [
            "what is the weather",
            "tell me a joke",
            "who won the football game",
            "how to cook pasta",
            "what is the capital of France",
        ],
    ),
}

_numbers = count(1000)


async def make_bot_desk(runtime: Runtime, channel: Channel) -> dict[str, Any]:
    """Intents, a trained English model, a first-response target of 2 hours, an article."""
    async with runtime.db.uow() as uow:
        uow.session.add(
            SlaPolicy(
                name="All",
                position=0,
                conditions={},
                targets={"first_response": {"minutes": 120, "business": False, "calendar_id": None}},
                warning_percent=80,
            )
        )
        article = KbArticle(
            language="en",
            translation_key="returns",
            slug="returns",
            title="Returns within 14 days",
            body_text="Return any item within 14 days of delivery. Start the return in your account.",
            status=ArticleStatus.PUBLISHED,
        )
        uow.session.add(article)
        await uow.session.flush()
        for key, (reply, handoff, examples) in INTENTS.items():
            await service.create_intent(
                uow,
                IntentCreate(
                    language="en",
                    key=key,
                    title=key,
                    reply=reply,
                    handoff=handoff,
                    kb_article_id=article.id if key == "returns" else None,
                    examples=examples,
                ),
            )
        # About 30 phrases cannot show the default 2% with 80% confidence (that takes some 80
        # clean held-out answers), so this desk's admin accepts 10%, as a small shop would.
        uow.session.add(BotSettings(language="en", max_wrong_rate=0.1))
        await uow.session.flush()
        version = await service.train(uow, "en", embedder=WordHashEmbedder())
        assert version.status == "active", version.error
        assert version.threshold is not None and version.threshold < 1.0, version.metrics
        return {"article_id": article.id, "model_id": version.id}


def update(
    text: str, *, chat_id: int = 42, language: str = "en", name: str = "Ivan Petrov"
) -> dict[str, Any]:
    n = next(_numbers)
    first, _, last = name.partition(" ")
    return {
        "update_id": n,
        "message": {
            "message_id": n,
            "date": 1_763_900_000,
            "chat": {"id": chat_id, "type": "private"},
            "from": {
                "id": chat_id,
                "is_bot": False,
                "first_name": first,
                "last_name": last,
                "language_code": language,
            },
            "text": text,
        },
    }


def button_press(bot_message: Message, payload: str, *, chat_id: int = 42, label: str = "") -> dict[str, Any]:
    n = next(_numbers)
    message_id = int(str(bot_message.external_id).split(":")[1]) if bot_message.external_id else 1
    return {
        "update_id": n,
        "callback_query": {
            "id": f"cq{n}",
            "from": {"id": chat_id, "is_bot": False, "first_name": "Ivan", "language_code": "en"},
            "chat_instance": "1",
            "data": payload,
            "message": {
                "message_id": message_id,
                "date": 1_763_900_000,
                "chat": {"id": chat_id, "type": "private"},
                "text": bot_message.text,
                "reply_markup": {"inline_keyboard": [[{"text": label or payload, "callback_data": payload}]]},
            },
        },
    }


async def receive(runtime: Runtime, channel: Channel, body: dict[str, Any]) -> None:
    """Store and process one update as the inbox does (without running the queued jobs)."""
    async with runtime.db.uow() as uow:
        got = await inbox.receive(
            uow,
            channel_id=channel.id,
            external_id=f"update:{body['update_id']}",
            payload=json.dumps(body).encode(),
            content_type="application/json",
        )
    assert got.payload_id is not None
    async with runtime.db.uow() as uow:
        await inbox.process(uow, runtime, got.payload_id, batch_size=100)


async def respond_pending(runtime: Runtime) -> int:
    """Run the queued ``bot.respond`` jobs' work with the test encoder; how many ran."""
    async with runtime.db.uow() as uow:
        jobs = (
            await uow.session.scalars(
                select(Job)
                .where(Job.task == conversation.RESPOND_TASK, Job.state == "queued")
                .order_by(Job.id)
            )
        ).all()
        ids = [int(j.payload["message_id"]) for j in jobs]
        for job in jobs:
            job.state = "done"
    for message_id in ids:
        async with runtime.db.uow() as uow:
            await conversation.respond(
                uow, message_id, public_url="https://desk.test", embedder=WordHashEmbedder()
            )
    return len(ids)


async def say(runtime: Runtime, channel: Channel, text: str, **kwargs: Any) -> None:
    await receive(runtime, channel, update(text, **kwargs))
    await respond_pending(runtime)


async def rows(runtime: Runtime, model: Any, *where: Any, order: Any = None) -> list[Any]:
    async with runtime.db.uow() as uow:
        query = select(model).where(*where)
        if order is not None:
            query = query.order_by(order)
        return list((await uow.session.scalars(query)).all())


async def timeline(runtime: Runtime) -> list[tuple[str, bool, str]]:
    return [(m.author_type, m.is_internal, m.text) for m in await rows(runtime, Message, order=Message.id)]


async def conv(runtime: Runtime) -> BotConversation:
    found: list[BotConversation] = await rows(runtime, BotConversation)
    assert len(found) == 1
    return found[0]


async def ticket(runtime: Runtime) -> Ticket:
    found: list[Ticket] = await rows(runtime, Ticket, order=Ticket.id)
    return found[-1]


async def bot_events(runtime: Runtime) -> list[tuple[str, dict[str, Any]]]:
    found = await rows(
        runtime, TicketEvent, TicketEvent.kind.in_(("bot_resolved", "bot_handoff")), order=TicketEvent.id
    )
    return [(e.kind, e.data) for e in found]


async def add_order(runtime: Runtime, *, customer_id: int | None, number: str, **fields: Any) -> None:
    async with runtime.db.uow() as uow:
        shop = (await uow.session.scalars(select(Shop))).first()
        if shop is None:
            shop = Shop(name="Shop", key_prefix="k", key_hash=f"h{number}", webhook_secret_encrypted="")
            uow.session.add(shop)
            await uow.session.flush()
        now = datetime(2026, 11, 20, tzinfo=UTC)
        uow.session.add(
            Order(
                shop_id=shop.id,
                external_id=f"ext-{number}",
                number=number,
                customer_id=customer_id,
                currency="RUB",
                placed_at=now,
                source_updated_at=now,
                **fields,
            )
        )


def fixed(prediction: Prediction) -> Any:
    """A stand-in for ``service.classify`` that always concludes ``prediction``."""

    async def classify(uow: Any, text: str, language: str, *, embedder: Any = None) -> Prediction:
        return prediction

    return classify


async def model_ids(runtime: Runtime) -> Sequence[int]:
    return [m.id for m in await rows(runtime, BotModel)]
