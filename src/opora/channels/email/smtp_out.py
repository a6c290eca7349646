"""Handing a composed reply to the channel's SMTP server (aiosmtplib), and reading its answer.

The reply code decides what the outbox does next: 4xx and lost connections are temporary, so the
job queue retries with backoff; 5xx is the server's final word, so the message is marked failed
with the server's own text, which is what an agent needs to see ("550 5.1.1 mailbox unknown").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from email.message import EmailMessage

import aiosmtplib

from opora.channels.base import DeliveryResult
from opora.channels.email.config import SmtpServer

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 60.0
MAX_ERROR = 1000


async def send_message(
    server: SmtpServer,
    message: EmailMessage,
    *,
    sender: str,
    recipients: Sequence[str],
    local_hostname: str,
    provider_id: str,
) -> DeliveryResult:
    """One SMTP transaction; ``provider_id`` is returned on success (our Message-ID)."""
    try:
        await aiosmtplib.send(
            message,
            sender=sender,
            recipients=list(recipients),
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.security == "ssl",
            start_tls=server.security == "starttls",
            validate_certs=server.verify_tls,
            # Without it aiosmtplib asks DNS for our FQDN on every send, slow where DNS is.
            local_hostname=local_hostname,
            timeout=TIMEOUT_SECONDS,
        )
    except Exception as exc:
        result = classify(exc)
        log.warning(
            "SMTP send failed (%s): %s",
            "temporary" if result.retriable else "permanent",
            result.error,
            extra={"smtp_host": server.host, "smtp_port": server.port},
        )
        return result
    return DeliveryResult.sent(provider_id)


def classify(exc: BaseException) -> DeliveryResult:
    """A failed send as a delivery result: retriable unless the server refused for good."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refusals = exc.recipients
        text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refusals)
        # Every recipient must be worth a retry; one final refusal makes a resend pointless.
        temporary = bool(refusals) and all(_temporary(r.code) for r in refusals)
        return DeliveryResult.failed(_cut(f"SMTP refused the recipients: {text}"), retriable=temporary)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryResult.failed(
            _cut(f"SMTP {exc.code}: {exc.message}".strip()), retriable=_temporary(exc.code)
        )
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        # e.g. STARTTLS required by the settings but not offered: only an admin can fix that.
        return DeliveryResult.failed(_cut(f"SMTP server does not support: {exc}"), retriable=False)
    # Timeouts, refused or dropped connections, DNS and TLS trouble: likely to pass.
    return DeliveryResult.failed(_cut(f"SMTP connection failed: {type(exc).__name__}: {exc}"), retriable=True)


def _temporary(code: int) -> bool:
    # Anything that is not a 5xx (including nonsense codes) is worth another try.
    return not 500 <= code < 600


def _cut(text: str) -> str:
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"
