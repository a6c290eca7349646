"""Email channel: parsing inbound mail, splitting replies from quotes, composing answers."""

from __future__ import annotations

from opora.channels.email.compose import (
    build_reply,
    normalise_subject,
    tag_subject,
    ticket_number_from_subject,
)
from opora.channels.email.html import html_to_text
from opora.channels.email.models import (
    Address,
    Attachment,
    EmailParseError,
    ForwardedEmail,
    LoopHeaders,
    ParsedEmail,
)
from opora.channels.email.parse import parse_email
from opora.channels.email.quotes import ReplySplit, split_reply
from opora.kit.html import sanitize_html

__all__ = [
    "Address",
    "Attachment",
    "EmailParseError",
    "ForwardedEmail",
    "LoopHeaders",
    "ParsedEmail",
    "ReplySplit",
    "build_reply",
    "html_to_text",
    "normalise_subject",
    "parse_email",
    "sanitize_html",
    "split_reply",
    "tag_subject",
    "ticket_number_from_subject",
]

# The channel type: registered on import, which the channel registry's discovery does. Importing
# the tasks module registers the IMAP polling jobs with the job registry at the same time.
from opora.channels import registry as _registry
from opora.channels.email import tasks as _tasks  # noqa: F401
from opora.channels.email.adapter import EmailAdapter
from opora.channels.email.config import check_config as _check_config
from opora.channels.email.idle import idle_from_settings as _imap_idle
from opora.channels.email.smtp_in import receiver_from_settings as _smtp_receiver

_registry.register("email", EmailAdapter, check_config=_check_config)
_registry.register_service("email.smtp_receiver", _smtp_receiver)
_registry.register_service("email.imap_idle", _imap_idle)
__all__ += ["EmailAdapter"]
