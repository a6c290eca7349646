"""Admin screens of the workspace: the overview here, each area in its own module.

``router`` carries them all, so the web setup registers one router for the admin part.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opora.auth.deps import Uow
from opora.jobs import service as jobs_service
from opora.jobs.models import JobState
from opora.web.templating import render
from opora.web.ui import (
    admin_bot,
    admin_canned,
    admin_channels,
    admin_kb,
    admin_kb_taxonomy,
    admin_ops,
    admin_people,
    admin_repository,
    admin_routing,
    admin_rules,
    admin_segments,
    admin_sla,
    admin_webhooks,
)
from opora.web.ui.admin_common import page
from opora.web.ui.deps import AdminViewer

router = APIRouter(include_in_schema=False)


@router.get("/admin")
async def admin_home(request: Request, uow: Uow, viewer: AdminViewer) -> Response:
    counts = await admin_repository.counts(uow.session)
    stats = await jobs_service.queue_stats(uow)
    context = page(
        viewer, "overview", counts=counts, dead_jobs=stats.counts.get(JobState.DEAD, 0), stats=stats
    )
    return render(request, "ui/admin/home.html", context)


for _module in (
    admin_people,
    admin_bot,
    admin_channels,
    admin_canned,
    admin_ops,
    admin_sla,
    admin_routing,
    admin_rules,
    admin_segments,
    admin_webhooks,
    admin_kb,
    admin_kb_taxonomy,
):
    router.include_router(_module.router)
