"""Form submissions: check (spam, limits, files), then store through the inbox.

A submission becomes one raw inbox payload, committed before the browser hears "thank you";
the inbox job turns it into a ticket like any other channel's message, so nothing is lost and a
retried POST of the same form does not open a second ticket.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from opora.channels.models import Channel
from opora.channels.webform import config, repository, spam
from opora.channels.webform.adapter import CONTENT_TYPE
from opora.channels.webform.config import ALLOWED_TYPES, FormSettings
from opora.channels.webform.models import WebformSubmission
from opora.customers import identity
from opora.db import UnitOfWork
from opora.inbox import service as inbox
from opora.kit.errors import AppError, InvalidInput, NotFound, PayloadTooLarge, RateLimited
from opora.runtime import Runtime

TYPE = "webform"
MAX_MESSAGE = 20_000
MAX_LINE = 300


class Refused(AppError):
    """A submission that looks automated; refused without saying which check caught it."""

    status_code = 400
    code = "refused"


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Submission:
    name: str = ""
    email: str = ""
    phone: str = ""
    subject: str = ""
    message: str = ""
    honeypot: str = ""
    timestamp: str | None = None
    language: str = "ru"
    page: str = ""
    files: tuple[Upload, ...] = ()


async def find_form(uow: UnitOfWork, public_key: str) -> tuple[Channel, FormSettings]:
    for channel in await repository.active_forms(uow.session, TYPE):
        try:
            settings = config.load(channel.settings)
        except ValueError:
            continue
        if secrets.compare_digest(settings.public_key, public_key):
            return channel, settings
    raise NotFound("There is no form here.")


def timestamp_key(runtime: Runtime) -> bytes:
    return spam.derive_key(runtime.settings.resolved_secret_key())


def new_timestamp(runtime: Runtime, channel: Channel, now: datetime) -> str:
    return spam.sign_timestamp(timestamp_key(runtime), channel.id, int(now.timestamp()))


def check_submission(
    runtime: Runtime, channel: Channel, form: FormSettings, sub: Submission, now: datetime
) -> tuple[str | None, str | None]:
    """The normalised e-mail and phone; raises for spam, missing fields and refused files."""
    if spam.honeypot_filled(sub.honeypot):
        raise Refused("The form could not be accepted.")
    reason = spam.check_timestamp(
        timestamp_key(runtime),
        channel.id,
        sub.timestamp,
        now=int(now.timestamp()),
        min_seconds=form.min_fill_seconds,
    )
    if reason is not None:
        raise Refused("The form could not be accepted; reload the page and send it again.")
    email = identity.normalize_email(sub.email, field="email") if sub.email.strip() else None
    phone = identity.normalize_phone(sub.phone, field="phone") if sub.phone.strip() else None
    if email is None and phone is None:
        raise InvalidInput("Give an e-mail address or a phone number so that we can answer.", field="contact")
    if not sub.message.strip():
        raise InvalidInput("Write your message.", field="message")
    if len(sub.message) > MAX_MESSAGE:
        raise InvalidInput(f"The message is longer than {MAX_MESSAGE} characters.", field="message")
    for name, value in (("name", sub.name), ("subject", sub.subject)):
        if len(value) > MAX_LINE:
            raise InvalidInput(f"The {name} is longer than {MAX_LINE} characters.", field=name)
    if len(sub.files) > form.max_files:
        raise InvalidInput(f"At most {form.max_files} files can be attached.", field="files")
    for upload in sub.files:
        if len(upload.data) > form.max_file_bytes:
            raise PayloadTooLarge(
                f"{upload.filename!r} is larger than {form.max_file_bytes // (1024 * 1024)} MB.",
                field="files",
            )
        if _content_type(upload) not in ALLOWED_TYPES:
            raise InvalidInput(f"Files of type {_content_type(upload)} cannot be attached.", field="files")
    return email, phone


async def submit(
    uow: UnitOfWork,
    runtime: Runtime,
    channel: Channel,
    form: FormSettings,
    sub: Submission,
    *,
    ip: str,
    now: datetime,
) -> str:
    """Store the submission; return its key (the thank-you page's address)."""
    email, phone = check_submission(runtime, channel, form, sub, now)
    since = now - timedelta(minutes=form.rate_window_minutes)
    if await repository.count_since(uow.session, channel.id, since=since, ip=ip) >= form.max_per_ip:
        raise RateLimited("Too many forms from this address; try again later.")
    if (
        email
        and await repository.count_since(uow.session, channel.id, since=since, email=email)
        >= form.max_per_email
    ):
        raise RateLimited("Too many forms from this e-mail address; try again later.")
    key = secrets.token_urlsafe(18)
    payload = {
        "submission": key,
        "name": sub.name.strip(),
        "email": email,
        "phone": phone,
        "subject": sub.subject.strip(),
        "message": sub.message.strip(),
        "language": sub.language,
        "page": sub.page[:500],
        "submitted_at": now.isoformat(),
        "attachments": [
            {
                "filename": _filename(upload.filename),
                "content_type": _content_type(upload),
                "data": base64.b64encode(upload.data).decode("ascii"),
            }
            for upload in sub.files
        ],
    }
    await inbox.receive(
        uow,
        channel_id=channel.id,
        external_id=f"form:{key}",
        payload=json.dumps(payload, ensure_ascii=False).encode(),
        content_type=CONTENT_TYPE,
    )
    await repository.insert_submission(
        uow.session,
        WebformSubmission(channel_id=channel.id, submission_key=key, ip=ip[:64], email=email, created_at=now),
    )
    return key


async def ticket_number(uow: UnitOfWork, channel: Channel, key: str) -> int | None:
    """None until the inbox job has made the submission a ticket (usually a moment)."""
    return await repository.ticket_of(uow.session, channel.id, f"form:{key}")


def _content_type(upload: Upload) -> str:
    return (upload.content_type or "application/octet-stream").split(";")[0].strip().lower()


def _filename(name: str) -> str:
    return name.replace("/", "_").replace("\\", "_").strip()[:255] or "file"
