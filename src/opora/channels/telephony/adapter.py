"""The telephony channel: call events from a PBX in, nothing out (agents call back by phone).

Settings: ``provider`` (``generic``, the default, or ``zadarma``), ``language`` (``ru``/``en``: the
words of messages that open a ticket), ``timezone`` (Zadarma's local call times) and
``recording_url_template`` (Zadarma: where a recording can be listened to, with
``{call_id_with_rec}``). Secrets: ``webhook_secret`` (generic) or ``api_secret`` (Zadarma).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from opora.channels.base import (
    ChannelConfig,
    DeliveryResult,
    InboundMessage,
    InvalidSignature,
    OutboundMessage,
    WebhookReply,
    WebhookRequest,
)
from opora.channels.telephony.calls import (
    Call,
    form_fields,
    parse_generic,
    parse_zadarma,
    subject,
    summary,
    zadarma_signed_string,
)
from opora.customers.models import IdentityKind
from opora.kit.crypto import constant_time_equal, hmac_hex_matches

PROVIDERS = ("generic", "zadarma")
SIGNATURE_HEADER = "x-opora-signature"


def check_config(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
    provider = settings.get("provider", "generic")
    if provider not in PROVIDERS:
        raise ValueError(f"'provider' must be one of {', '.join(PROVIDERS)}")
    secret = "api_secret" if provider == "zadarma" else "webhook_secret"
    if not isinstance(secrets.get(secret), str) or len(secrets[secret]) < 8:
        raise ValueError(f"the secret {secret!r} (at least 8 characters) is required")
    if settings.get("language", "ru") not in ("ru", "en"):
        raise ValueError("'language' must be ru or en")
    try:
        ZoneInfo(str(settings.get("timezone", "Europe/Moscow")))
    except (KeyError, ValueError):
        raise ValueError("'timezone' is not a known time zone") from None
    template = settings.get("recording_url_template")
    if template is not None and (not isinstance(template, str) or not template.startswith("https://")):
        raise ValueError("'recording_url_template' must be an https:// address")


class TelephonyAdapter:
    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        self.provider = str(config.settings.get("provider", "generic"))
        self.language = str(config.settings.get("language", "ru"))

    def verify(self, request: WebhookRequest) -> None:
        if self.provider == "zadarma":
            self._verify_zadarma(request)
        else:
            self._verify_generic(request)

    def _verify_generic(self, request: WebhookRequest) -> None:
        secret = self.config.secrets.get("webhook_secret")
        given = (request.header(SIGNATURE_HEADER) or "").removeprefix("sha256=").strip()
        if not isinstance(secret, str) or not secret or not given:
            raise InvalidSignature("A signed call event is required (X-Opora-Signature).")
        if not hmac_hex_matches(given.lower(), secret, request.body):
            raise InvalidSignature("The call event's signature does not match.")

    def _verify_zadarma(self, request: WebhookRequest) -> None:
        secret = self.config.secrets.get("api_secret")
        given = request.header("signature") or ""
        signed = zadarma_signed_string(form_fields(request.body)) if given else None
        if not isinstance(secret, str) or not secret or signed is None:
            raise InvalidSignature("A signed Zadarma notification is required.")
        digest = hmac.new(secret.encode(), signed.encode(), hashlib.sha1).hexdigest()
        # Zadarma base64-encodes the hex digest (PHP's hash_hmac output), not the raw bytes.
        expected = base64.b64encode(digest.encode()).decode()
        if not constant_time_equal(given.strip(), expected):
            raise InvalidSignature("The Zadarma signature does not match.")

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        """Zadarma checks a webhook address with ``GET ?zd_echo=<token>`` and wants the token back."""
        echo = request.query.get("zd_echo")
        if self.provider != "zadarma" or request.method != "GET" or not echo or len(echo) > 200:
            return None
        return WebhookReply(body=echo.encode())

    def payload_id(self, request: WebhookRequest) -> str | None:
        """The same call and event delivered twice is stored once, even if the bodies differ."""
        try:
            call = self._call(request.body)
        except ValueError:
            return None  # stored under the body hash, then quarantined by parse
        return call.key if call else None

    def _call(self, payload: bytes) -> Call | None:
        if self.provider == "zadarma":
            settings = self.config.settings
            return parse_zadarma(
                form_fields(payload),
                timezone=str(settings.get("timezone", "Europe/Moscow")),
                recording_url_template=settings.get("recording_url_template"),
            )
        return parse_generic(payload)

    def parse(self, payload: bytes, content_type: str) -> list[InboundMessage]:
        call = self._call(payload)
        if call is None:
            return []
        text, html = summary(call, self.language)
        return [
            InboundMessage(
                external_id=call.key,
                sender_kind=IdentityKind.PHONE,
                sender_value=call.caller,
                sender_name=call.caller_name,
                text=text,
                html=html,
                subject=subject(call, self.language),
                sent_at=call.started_at,
                metadata={
                    "kind": "call",
                    "call": call.as_metadata(),
                    "language": self.language,
                    # Calls continue the caller's open phone ticket, so a second missed call
                    # lands in the call-back ticket that is already waiting.
                    "continues_conversation": True,
                    # Nobody reads an automatic e-mail-style answer to a phone call.
                    "no_auto_reply": True,
                },
            )
        ]

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        return DeliveryResult.failed(
            "a phone channel cannot deliver written replies; call the customer or answer on another channel",
            retriable=False,
        )
