"""A tiny JSON channel for pipeline tests: {"id", "from", "name", "text", "reply_to", "number"}."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from opora.channels import registry
from opora.channels.base import (
    ChannelConfig,
    DeliveryResult,
    InboundMessage,
    InvalidSignature,
    OutboundMessage,
    UnparseablePayload,
    WebhookRequest,
)
from opora.customers.models import IdentityKind

TYPE = "fakechat"
SECRET = "s3cret"


class FakeChat:
    def __init__(self, config: ChannelConfig) -> None:
        self.config = config

    def verify(self, request: WebhookRequest) -> None:
        if request.header("x-fake-secret") != SECRET:
            raise InvalidSignature("bad secret")

    def parse(self, payload: bytes, content_type: str) -> list[InboundMessage]:
        try:
            data = json.loads(payload)
        except ValueError as exc:
            raise UnparseablePayload(f"not JSON: {exc}") from exc
        if not isinstance(data, dict) or "id" not in data:
            raise UnparseablePayload("no message id")
        if data.get("explode"):
            raise RuntimeError("parser bug")
        if data.get("empty"):
            return []
        metadata: dict[str, object] = {"continues_conversation": data.get("chat", True)}
        if "number" in data:
            metadata["ticket_number"] = data["number"]
        if data.get("auto"):
            metadata["auto_submitted"] = True
        if "bounce_of" in data:
            metadata["bounce_of"] = data["bounce_of"]
        return [
            InboundMessage(
                external_id=str(data["id"]),
                sender_kind=IdentityKind.TELEGRAM,
                sender_value=str(data.get("from", "100")),
                sender_name=data.get("name"),
                text=str(data.get("text", "")),
                reply_to=data.get("reply_to"),
                subject=data.get("subject"),
                metadata=metadata,
            )
        ]

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        return DeliveryResult.sent(f"out-{message.idempotency_key}")


@contextmanager
def fake_channel_type() -> Iterator[None]:
    registry.register(TYPE, FakeChat)
    try:
        yield
    finally:
        registry.unregister(TYPE)
