"""The job that mails an agent's chat reply to a visitor who was not there (mail.py)."""

from __future__ import annotations

from typing import Any

from opora.channels.webchat import mail
from opora.jobs.registry import JobContext, task


@task(mail.MAIL_TASK, max_attempts=8, timeout=120, retry_base=10.0, retry_cap=1800.0)
async def email_reply(ctx: JobContext, payload: dict[str, Any]) -> None:
    await mail.deliver(ctx.uow, ctx.runtime, int(payload["message_id"]), last_attempt=ctx.is_last_attempt)
