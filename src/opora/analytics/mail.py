"""Sending report emails: one seam (``Mailer``) and the default, plain SMTP from settings.

Reports go to the desk's own managers, not to customers, so they do not borrow a customer
channel's mailbox: ``OPORA_REPORTS_SMTP_HOST`` (and port, security, username, password, sender)
name the server. Without a host nothing is sent and the job says so in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal, Protocol

import aiosmtplib
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)


class MailSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPORA_REPORTS_", env_file=".env", extra="ignore")

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_security: Literal["none", "starttls", "ssl"] = "none"
    smtp_username: str | None = None
    smtp_password: str | None = None
    sender: str = "opora@localhost"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str
    subtype: str


class Mailer(Protocol):
    async def send(
        self, to: Sequence[str], subject: str, text: str, attachments: Sequence[Attachment]
    ) -> bool: ...


def compose(
    sender: str, to: Sequence[str], subject: str, text: str, attachments: Sequence[Attachment]
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message.set_content(text)
    for a in attachments:
        message.add_attachment(a.content, maintype=a.maintype, subtype=a.subtype, filename=a.filename)
    return message


class SmtpMailer:
    def __init__(self, settings: MailSettings | None = None) -> None:
        self.settings = settings or MailSettings()

    async def send(
        self, to: Sequence[str], subject: str, text: str, attachments: Sequence[Attachment]
    ) -> bool:
        s = self.settings
        if not s.smtp_host:
            log.info("report email not sent: OPORA_REPORTS_SMTP_HOST is not set")
            return False
        await aiosmtplib.send(
            compose(s.sender, to, subject, text, attachments),
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password,
            use_tls=s.smtp_security == "ssl",
            start_tls=s.smtp_security == "starttls",
            local_hostname="opora.localdomain",
            timeout=60,
        )
        return True
