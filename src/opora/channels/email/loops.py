"""Loop protection: is this mail from a machine, or to a crowd, so that we must not auto-answer it?

Two desks (or a desk and a vacation responder) answering each other forever is the classic
support-email incident. The rules follow RFC 3834 section 2 and what big mailers actually send:
Yandex, Mail.ru and Exchange mark their responders differently, so several signals count.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opora.channels.email.models import LoopHeaders

_MACHINE_LOCAL_PARTS = {"mailer-daemon", "postmaster", "mail-daemon", "maildaemon"}
_BULK_PRECEDENCE = {"bulk", "junk", "list"}
_AUTO_PRECEDENCE = {"auto_reply", "auto-reply", "autoreply"}
# Exchange sets this on its own auto-answers and honours it on receipt; so do we.
_SUPPRESS_VALUES = re.compile(r"\b(all|oof|autoreply)\b", re.IGNORECASE)
# Some responders set no header at all; their subjects are stable enough to catch the rest.
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic)?[ _-]?(?:reply|response|answer)|autoreply|auto:|out of (?:the )?office"
    r"|автоматический ответ|автоответ|автоответчик|ваше письмо получено)",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"(?:undeliver|undelivered mail|delivery status notification \(failure\)|delivery failure"
    r"|returned mail|mail delivery failed|failure notice|недоставленное сообщение"
    r"|не удалось доставить|сообщение не доставлено)",
    re.IGNORECASE,
)


def is_machine_sender(address: str | None) -> bool:
    """mailer-daemon@, postmaster@ and friends never read what we send them."""
    if not address:
        return False
    local = address.split("@", 1)[0].strip().lower()
    return local in _MACHINE_LOCAL_PARTS


def is_auto_reply(
    headers: LoopHeaders,
    from_email: str | None = None,
    report_type: str | None = None,
    subject: str = "",
) -> bool:
    """True when the mail was generated automatically (responder, report, daemon)."""
    auto = (headers.auto_submitted or "").split(";", 1)[0].strip().lower()
    if auto and auto != "no":
        return True
    if headers.x_autoreply or headers.x_autorespond:
        return True
    if (headers.precedence or "").strip().lower() in _AUTO_PRECEDENCE:
        return True
    if headers.x_auto_response_suppress and _SUPPRESS_VALUES.search(headers.x_auto_response_suppress):
        return True
    # A null reverse path ("Return-Path: <>") is how RFC 5321 marks notifications.
    if headers.return_path is not None and headers.return_path == "":
        return True
    if report_type or is_machine_sender(from_email):
        return True
    return bool(_AUTO_SUBJECT.search(subject))


def is_bulk(headers: LoopHeaders) -> bool:
    """True for mailing lists and newsletters: one answer would reach many, or nobody."""
    if (headers.precedence or "").strip().lower() in _BULK_PRECEDENCE:
        return True
    return bool(headers.list_id or headers.list_unsubscribe)


def looks_like_bounce(from_email: str | None, subject: str, failed_recipients: str | None) -> bool:
    """A bounce without a proper DSN part: daemon sender or X-Failed-Recipients, plus wording."""
    if failed_recipients:
        return True
    if from_email and from_email.split("@", 1)[0].lower() == "mailer-daemon":
        return True
    return is_machine_sender(from_email) and bool(_BOUNCE_SUBJECT.search(subject))
