"""Admin screens for what went wrong: dead-letter jobs and quarantined inbound payloads, with retry."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from opora.auth.deps import Uow
from opora.inbox import repository as inbox_repository
from opora.inbox import service as inbox_service
from opora.inbox.models import InboundPayload, PayloadState
from opora.jobs import service as jobs_service
from opora.jobs.models import JobState
from opora.kit.errors import AppError, InvalidInput, NotFound
from opora.kit.pagination import cursor_int, decode_cursor, encode_cursor
from opora.web.i18n import gettext as _
from opora.web.templating import render
from opora.web.ui import admin_repository
from opora.web.ui.admin_common import page, recover
from opora.web.ui.deps import AdminViewer, Viewer

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
# A raw mail can be megabytes; the page shows the start, which is where the parser usually fails.
PAYLOAD_SHOWN = 20_000


def job_states() -> dict[str, str]:
    return {
        JobState.DEAD: _("Failed"),
        JobState.QUEUED: _("Queued"),
        JobState.RUNNING: _("Running"),
        JobState.DONE: _("Done"),
    }


def payload_states() -> dict[str, str]:
    return {
        PayloadState.QUARANTINED: _("Quarantined"),
        PayloadState.RECEIVED: _("Waiting"),
        PayloadState.PROCESSED: _("Processed"),
        PayloadState.IGNORED: _("Ignored"),
    }


# Jobs


@router.get("/admin/jobs")
async def jobs_list(
    request: Request,
    uow: Uow,
    viewer: AdminViewer,
    state: Annotated[str, Query(max_length=10)] = JobState.DEAD.value,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    done: str = "",
) -> Response:
    if state not in job_states():
        raise InvalidInput(f"Unknown job state {state!r}.", field="state")
    found = await jobs_service.list_jobs(uow, state=state, limit=PAGE_SIZE, cursor=cursor)
    stats = await jobs_service.queue_stats(uow)
    context = page(
        viewer,
        "jobs",
        jobs=found.items,
        next_cursor=found.next_cursor,
        state=state,
        states=job_states(),
        stats=stats,
        done=done,
    )
    return render(request, "ui/admin/jobs.html", context)


async def _job_page(
    request: Request,
    uow: Uow,
    viewer: Viewer,
    job_id: int,
    *,
    error: str = "",
    done: str = "",
    status_code: int = 200,
) -> Response:
    job = await jobs_service.get_job(uow, job_id)
    context = page(
        viewer,
        "jobs",
        job=job,
        payload=json.dumps(job.payload, ensure_ascii=False, indent=2, sort_keys=True),
        states=job_states(),
        error=error,
        done=done,
    )
    return render(request, "ui/admin/job.html", context, status_code=status_code)


@router.get("/admin/jobs/{job_id}")
async def job_detail(
    request: Request, job_id: int, uow: Uow, viewer: AdminViewer, done: str = ""
) -> Response:
    return await _job_page(request, uow, viewer, job_id, done=done)


@router.post("/admin/jobs/{job_id}/retry")
async def job_retry(request: Request, job_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    try:
        await jobs_service.retry_dead(uow, job_id)
    except NotFound:
        raise
    except AppError as exc:
        await recover(uow, viewer)
        message = _("Only a failed job can be retried, and only while no copy of it is waiting or running.")
        return await _job_page(request, uow, viewer, job_id, error=message, status_code=exc.status_code)
    return RedirectResponse(f"/admin/jobs/{job_id}?done=retried", status_code=303)


# Inbound payloads


@router.get("/admin/inbound")
async def payloads_list(
    request: Request,
    uow: Uow,
    viewer: AdminViewer,
    state: Annotated[str, Query(max_length=20)] = PayloadState.QUARANTINED.value,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    done: str = "",
) -> Response:
    if state not in payload_states():
        raise InvalidInput(f"Unknown payload state {state!r}.", field="state")
    before = cursor_int(decode_cursor(cursor, 1)[0]) if cursor else None
    found = list(
        await inbox_repository.list_payloads(uow.session, state=state, limit=PAGE_SIZE + 1, after_id=before)
    )
    rows = found[:PAGE_SIZE]
    next_cursor = encode_cursor(rows[-1].id) if len(found) > PAGE_SIZE else None
    context = page(
        viewer,
        "inbound",
        payloads=rows,
        next_cursor=next_cursor,
        channels=await admin_repository.channel_names(uow.session, [p.channel_id for p in rows]),
        state=state,
        states=payload_states(),
        done=done,
    )
    return render(request, "ui/admin/payloads.html", context)


def shown_payload(row: InboundPayload) -> tuple[str, bool]:
    """The raw payload as text for the page (escaped by the template) and whether it was cut."""
    raw = inbox_service.raw_bytes(row)
    shown = raw[: PAYLOAD_SHOWN * 4].decode("utf-8", errors="replace")
    return shown[:PAYLOAD_SHOWN], len(raw) > PAYLOAD_SHOWN or len(shown) > PAYLOAD_SHOWN


async def _payload_page(
    request: Request,
    uow: Uow,
    viewer: Viewer,
    payload_id: int,
    *,
    error: str = "",
    done: str = "",
    status_code: int = 200,
) -> Response:
    row = await inbox_repository.get_payload(uow.session, payload_id)
    if row is None:
        raise NotFound(f"Inbound payload {payload_id} does not exist.")
    text, truncated = shown_payload(row)
    context = page(
        viewer,
        "inbound",
        payload=row,
        raw=text,
        truncated=truncated,
        shown_limit=PAYLOAD_SHOWN,
        channel_name=(await admin_repository.channel_names(uow.session, [row.channel_id])).get(
            row.channel_id, ""
        ),
        states=payload_states(),
        error=error,
        done=done,
    )
    return render(request, "ui/admin/payload.html", context, status_code=status_code)


@router.get("/admin/inbound/{payload_id}")
async def payload_detail(
    request: Request, payload_id: int, uow: Uow, viewer: AdminViewer, done: str = ""
) -> Response:
    return await _payload_page(request, uow, viewer, payload_id, done=done)


@router.post("/admin/inbound/{payload_id}/retry")
async def payload_retry(request: Request, payload_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    try:
        await inbox_service.retry_payload(uow, payload_id)
    except NotFound:
        raise
    except AppError as exc:
        await recover(uow, viewer)
        message = _("Only a quarantined message can be retried.")
        return await _payload_page(
            request, uow, viewer, payload_id, error=message, status_code=exc.status_code
        )
    return RedirectResponse(f"/admin/inbound/{payload_id}?done=retried", status_code=303)
