"""Presses on the bot's inline buttons are answered with ``answerCallbackQuery``.

Telegram shows a spinner on a pressed button until the bot answers the callback query; the
press itself is already stored as a customer message, so the answer carries no text. It is a
job queued in the transaction that stored the press, so it goes out only once that committed.
Telegram refuses answers to old queries, so a failed answer is logged, never retried for long.
"""

from __future__ import annotations

import logging
from typing import Any

from opora.channels import service as channels_service
from opora.channels.models import Channel
from opora.channels.telegram import repository
from opora.channels.telegram.api import BotApi, TelegramError
from opora.channels.telegram.config import load
from opora.db import UnitOfWork
from opora.inbox.batch import Ingested
from opora.jobs.registry import JobContext, task
from opora.jobs.service import enqueue
from opora.runtime import Runtime

log = logging.getLogger(__name__)

ANSWER_TASK = "telegram.answer_button"
CHANNEL_TYPE = "telegram"


async def on_inbound(uow: UnitOfWork, runtime: Runtime, ingested: list[Ingested]) -> None:
    for item in ingested:
        telegram = item.inbound.metadata.get("telegram")
        if isinstance(telegram, dict) and isinstance(telegram.get("callback_query_id"), str):
            await enqueue(
                uow,
                ANSWER_TASK,
                {"message_id": item.message_id, "callback_query_id": telegram["callback_query_id"]},
                unique_key=f"{ANSWER_TASK}:{item.message_id}",
            )


@task(ANSWER_TASK, max_attempts=2, timeout=30, retry_base=2.0, retry_cap=10.0)
async def answer_button(ctx: JobContext, payload: dict[str, Any]) -> None:
    async with ctx.runtime.db.uow() as uow:
        message = await repository.get_message(uow.session, int(payload["message_id"]))
        channel = (
            await uow.session.get(Channel, message.channel_id) if message and message.channel_id else None
        )
        if channel is None or channel.type != CHANNEL_TYPE:
            return
        try:
            settings = load(channel.settings, channels_service.channel_secrets(ctx.runtime, channel))
        except ValueError as exc:
            log.error("Telegram channel %s cannot answer a button press: %s", channel.id, exc)
            return
    try:
        async with BotApi(settings) as api:
            await api.call("answerCallbackQuery", {"callback_query_id": str(payload["callback_query_id"])})
    except TelegramError as exc:
        if exc.retriable and not ctx.is_last_attempt:
            raise
        # Only the spinner is at stake: the press is stored and the bot has acted on it.
        log.warning("answerCallbackQuery for message %s failed: %s", payload["message_id"], exc)
