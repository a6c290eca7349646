"""The device channel: events from the shop's devices (a boiler, a smart lock, a printer) arrive at
``POST /api/v1/devices/{channel_id}/events`` with the channel's API key or an HMAC of the body.

Settings: ``rules`` (see :mod:`opora.channels.devices.rules`), ``language`` (``ru``/``en``: the
words of new tickets and of customer notices when the customer's language is unknown), ``notify``
(default true: tell the customer on their channel when a ticket opens). Secrets: ``api_key``
and/or ``hmac_secret``. For agent replies by mail: the email channel's ``address`` and ``smtp_*``
settings and the secret ``smtp_password``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opora.channels.base import (
    ChannelConfig,
    DeliveryResult,
    InboundMessage,
    InvalidSignature,
    OutboundMessage,
    UnparseablePayload,
    WebhookRequest,
)
from opora.channels.devices.rules import load_rules
from opora.channels.email.adapter import EmailAdapter
from opora.kit.crypto import constant_time_equal, hmac_hex_matches

TYPE = "device"
SIGNATURE_HEADER = "x-opora-signature"


def check_config(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
    load_rules(settings.get("rules"))
    if settings.get("language", "ru") not in ("ru", "en"):
        raise ValueError("'language' must be ru or en")
    if not isinstance(settings.get("notify", True), bool):
        raise ValueError("'notify' must be true or false")
    given = [secrets.get(name) for name in ("api_key", "hmac_secret")]
    if not any(isinstance(value, str) and len(value) >= 16 for value in given):
        raise ValueError("the secret 'api_key' or 'hmac_secret' (at least 16 characters) is required")


def check_auth(config: ChannelConfig, request: WebhookRequest) -> None:
    """The channel's API key as a bearer token, or an HMAC-SHA256 of the body."""
    api_key = config.secrets.get("api_key")
    bearer = (request.header("authorization") or "").removeprefix("Bearer ").strip()
    if isinstance(api_key, str) and api_key and bearer and constant_time_equal(bearer, api_key):
        return
    secret = config.secrets.get("hmac_secret")
    signature = (request.header(SIGNATURE_HEADER) or "").removeprefix("sha256=").strip().lower()
    if isinstance(secret, str) and secret and signature and hmac_hex_matches(signature, secret, request.body):
        return
    raise InvalidSignature("A device event needs the channel's API key or a valid signature.")


class DeviceAdapter:
    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        self.mail = EmailAdapter(config) if config.settings.get("address") else None

    def verify(self, request: WebhookRequest) -> None:
        raise InvalidSignature("Device events are posted to /api/v1/devices/{channel_id}/events.")

    def parse(self, payload: bytes, content_type: str) -> list[InboundMessage]:
        raise UnparseablePayload("device events are not taken through the generic inbox")

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        if self.mail is None:
            return DeliveryResult.failed(
                "a device channel has no mailbox for replies (set 'address' and the SMTP settings)",
                retriable=False,
            )
        return await self.mail.send(message)
