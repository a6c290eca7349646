"""Outbound webhooks: the ``call_webhook`` action, signing, and the delivery job's work.

The action only writes a delivery row and enqueues a job in the rule's transaction; the POST
happens later in the job, never inside a request or a reaction. Each attempt is written to the
delivery log. Like the outbox, the job reads in a short transaction of its own, talks to the
receiver holding no lock, then records: a failed attempt that will be retried is written in its
own short transaction (the job's transaction is rolled back by the retry), the final outcome in
the job's transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opora.automation import repository
from opora.automation.actions import ActionContext, CallWebhook, Outcome, outcome, register_action
from opora.automation.conditions import TicketView
from opora.automation.models import DeliveryState, WebhookAttempt, WebhookDelivery
from opora.db import UnitOfWork
from opora.jobs.service import enqueue
from opora.kit import safe_http
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.tickets import repository as tickets_repo


class DeliveryFailed(Exception):
    """A try failed in a way a later try may fix (timeout, 5xx, 429)."""


DELIVER_TASK = "automation.webhook_deliver"
MAX_ATTEMPTS = 6
SIGNATURE_HEADER = "X-Opora-Signature"
TIMESTAMP_HEADER = "X-Opora-Timestamp"
EXCERPT_CHARS = 1000
USER_AGENT = "Opora-Webhooks/1"
# Retrying cannot fix these: the receiver understood us and said no.
_PERMANENT = frozenset(range(400, 500)) - {408, 425, 429}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``"<timestamp>.<body>"``; see docs/automation.md."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, *, now: float, tolerance: int = 300
) -> bool:
    """What a receiver does (also used by our tests): fresh timestamp, then a constant-time compare."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


def ticket_summary(ticket: Any, tags: list[str]) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "number": ticket.id,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "channel_type": ticket.channel_type,
        "team_id": ticket.team_id,
        "assignee_id": ticket.assignee_id,
        "customer_id": ticket.customer_id,
        "topic": ticket.topic,
        "language": ticket.language,
        "tags": tags,
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
    }


async def _call_webhook(ctx: ActionContext, params: CallWebhook) -> Outcome:
    webhook = await repository.get_webhook(ctx.uow.session, params.webhook_id)
    if webhook is None or not webhook.is_active:
        return outcome(
            "call_webhook", "skipped", reason=f"webhook {params.webhook_id} is missing or inactive"
        )
    tags = (await tickets_repo.tags_of(ctx.uow.session, [ctx.ticket.id]))[ctx.ticket.id]
    payload = {
        "event": {
            "kind": ctx.fact.kind,
            "actor_type": ctx.fact.actor_type,
            "actor_id": ctx.fact.actor_id,
            "data": ctx.fact.data,
            "created_at": ctx.fact.created_at.isoformat() if ctx.fact.created_at else None,
        },
        "rule": {"id": ctx.rule_id, "name": ctx.rule_name},
        "ticket": ticket_summary(ctx.ticket, tags),
    }
    delivery = await queue_delivery(
        ctx.uow,
        webhook_id=webhook.id,
        rule_id=ctx.rule_id,
        ticket_id=ctx.ticket.id,
        event_kind=ctx.fact.kind,
        payload=payload,
    )
    return outcome("call_webhook", "applied", webhook_id=webhook.id, delivery_id=delivery.id)


async def queue_delivery(
    uow: UnitOfWork,
    *,
    webhook_id: int,
    rule_id: int | None,
    ticket_id: int | None,
    event_kind: str,
    payload: dict[str, Any],
) -> WebhookDelivery:
    delivery = WebhookDelivery(
        webhook_id=webhook_id,
        rule_id=rule_id,
        ticket_id=ticket_id,
        event_kind=event_kind,
        # Round-trip through JSON now: a value that cannot be sent must fail here, not in the job.
        payload=json.loads(json.dumps(payload, default=str)),
        state=DeliveryState.PENDING,
        created_at=utcnow(),
    )
    uow.session.add(delivery)
    await uow.session.flush()
    await enqueue(uow, DELIVER_TASK, {"delivery_id": delivery.id}, unique_key=f"webhook:{delivery.id}")
    return delivery


def _describe_webhook(
    params: CallWebhook, _v: TicketView, _values: Mapping[str, str | None], _l: str
) -> Outcome:
    return outcome("call_webhook", "would_apply", webhook_id=params.webhook_id)


register_action("call_webhook", params=CallWebhook, apply=_call_webhook, describe=_describe_webhook)


# -- delivery (the job) -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    url: str
    secret: str
    body: bytes
    event_kind: str
    policy: safe_http.OutboundPolicy


async def _prepare(runtime: Runtime, delivery_id: int) -> _Prepared | None:
    async with runtime.db.uow() as uow:
        delivery = await uow.session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.state != DeliveryState.PENDING:
            return None
        webhook = await repository.get_webhook(uow.session, delivery.webhook_id)
        if webhook is None:
            return None
        allow = safe_http.parse_allow_list(await repository.allowed_networks(uow.session))
        body = json.dumps(
            {"delivery_id": delivery.id, **delivery.payload}, ensure_ascii=False, separators=(",", ":")
        ).encode()
        return _Prepared(
            url=webhook.url,
            secret=runtime.secrets.open(webhook.secret_encrypted)["secret"],
            body=body,
            event_kind=delivery.event_kind,
            policy=safe_http.OutboundPolicy(allow=allow),
        )


async def deliver(
    uow: UnitOfWork,
    runtime: Runtime,
    delivery_id: int,
    *,
    attempt: int,
    last_attempt: bool,
    resolver: safe_http.Resolver | None = None,
) -> None:
    prepared = await _prepare(runtime, delivery_id)
    if prepared is None:
        return
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Opora-Event": prepared.event_kind,
        "X-Opora-Delivery": str(delivery_id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(prepared.secret, timestamp, prepared.body),
    }
    started = time.monotonic()
    status_code: int | None = None
    excerpt: str | None = None
    error: str | None = None
    retriable = True
    try:
        result = await safe_http.request(
            "POST",
            prepared.url,
            policy=prepared.policy,
            headers=headers,
            content=prepared.body,
            resolver=resolver,
        )
        status_code = result.status_code
        excerpt = result.body[:EXCERPT_CHARS].decode("utf-8", "replace")
        if not result.ok:
            error = f"HTTP {status_code}"
            retriable = status_code not in _PERMANENT
    except safe_http.Refused as exc:
        error, retriable = f"refused: {exc}", False
    except safe_http.OutboundError as exc:
        error = str(exc)
    duration = round((time.monotonic() - started) * 1000)
    attempt_row = WebhookAttempt(
        delivery_id=delivery_id,
        attempt=attempt,
        status_code=status_code,
        duration_ms=duration,
        error=error,
        response_excerpt=excerpt,
        created_at=utcnow(),
    )
    if error is not None and retriable and not last_attempt:
        # The job's transaction is about to roll back; the log of this try must survive it.
        async with runtime.db.uow() as log_uow:
            await _record(log_uow, delivery_id, attempt_row, final=None)
        # The job queue retries with its backoff (see tasks.py for the schedule).
        raise DeliveryFailed(f"webhook delivery {delivery_id}: {error}")
    final = DeliveryState.DELIVERED if error is None else DeliveryState.FAILED
    await _record(uow, delivery_id, attempt_row, final=final)


async def _record(
    uow: UnitOfWork, delivery_id: int, attempt: WebhookAttempt, *, final: DeliveryState | None
) -> None:
    delivery = await uow.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        return
    uow.session.add(attempt)
    delivery.attempts = max(delivery.attempts, attempt.attempt)
    if final is not None:
        delivery.state = final
        delivery.finished_at = utcnow()
    await uow.session.flush()
