"""The job that mails a sign-in link, through the desk's e-mail channel (its SMTP server).

The link is not in the job's payload: it is signed again from the stored row, so the jobs table
never holds a working credential. Temporary SMTP failures are retried with backoff; a link
that expired or was used meanwhile is not sent at all.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from opora.channels import service as channels_service
from opora.channels.email import config as email_config
from opora.channels.email.smtp_out import send_message
from opora.jobs.errors import PermanentFailure
from opora.jobs.registry import JobContext, task
from opora.kit.time import utcnow
from opora.portal import links, repository
from opora.portal.service import SEND_TASK, mail_channel
from opora.web import i18n

log = logging.getLogger(__name__)


def compose(*, sender: str, sender_name: str, to: str, url: str, language: str, minutes: int) -> EmailMessage:
    with i18n.use_language(language):
        subject = i18n.gettext("Your sign-in link")
        body = "\n\n".join(
            [
                i18n.gettext("Hello!"),
                i18n.gettext("Open this link to see your requests to our support:"),
                url,
                i18n.gettext("The link works once and for {minutes} minutes.").format(minutes=minutes),
                i18n.gettext("If you did not ask for it, ignore this letter."),
            ]
        )
    message = EmailMessage()
    message["From"] = formataddr((sender_name, sender)) if sender_name else sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    # A sign-in mail must never trigger an auto-reply loop.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body + "\n")
    return message


@task(SEND_TASK, max_attempts=5, timeout=120)
async def send_login_link(ctx: JobContext, payload: dict[str, Any]) -> None:
    login = await repository.get_login(ctx.uow.session, int(payload["login_id"]))
    now = utcnow()
    if login is None or login.used_at is not None or login.link_expires_at <= now:
        return
    channel = await mail_channel(ctx.uow)
    if channel is None:
        raise PermanentFailure("no active e-mail channel with an SMTP server")
    config = channels_service.channel_config(ctx.runtime, channel)
    try:
        settings = email_config.load(config.settings, config.secrets)
    except ValueError as exc:
        raise PermanentFailure(f"the e-mail channel's settings are invalid: {exc}") from exc
    if settings.smtp is None:
        raise PermanentFailure("the e-mail channel has no SMTP server")
    key = links.link_key(ctx.runtime.settings.resolved_secret_key())
    token = links.sign(key, login.id, login.link_expires_at)
    url = f"{ctx.runtime.settings.public_url}/help/{login.language}/login/{token}"
    minutes = int((login.link_expires_at - login.created_at).total_seconds() // 60)
    mail = compose(
        sender=settings.address,
        sender_name=settings.name or channel.name,
        to=login.email,
        url=url,
        language=login.language,
        minutes=minutes,
    )
    result = await send_message(
        settings.smtp,
        mail,
        sender=settings.address,
        recipients=[login.email],
        local_hostname=settings.address.rsplit("@", 1)[-1],
        provider_id=str(mail["Message-ID"]),
    )
    if result.ok:
        return
    if result.retriable:
        raise RuntimeError(f"SMTP refused for now: {result.error}")
    raise PermanentFailure(f"SMTP refused: {result.error}")
