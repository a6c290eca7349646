"""The assistance panel beside the composer and the tone check of a draft, both loaded by htmx
after the ticket page, so that neither slows the page down."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from opora.assist import service
from opora.auth.deps import RuntimeDep, Uow
from opora.kb.links import article_url
from opora.web.templating import render
from opora.web.ui.deps import ViewerDep, WriterViewer

router = APIRouter(include_in_schema=False)


@router.get("/tickets/{ticket_id}/assist")
async def assist_panel(
    request: Request, ticket_id: int, uow: Uow, viewer: WriterViewer, runtime: RuntimeDep
) -> Response:
    found = await service.panel(uow, viewer.principal, ticket_id)
    base = runtime.settings.public_url
    links = {
        hit.article.id: article_url(base, hit.article.language, hit.article.slug) for hit in found.articles
    }
    context = {"viewer": viewer, "panel": found, "links": links}
    return render(request, "ui/_assist.html", context, block="panel")


@router.post("/tickets/{ticket_id}/tone")
async def tone_check(
    request: Request,
    ticket_id: int,
    uow: Uow,
    viewer: ViewerDep,
    text: Annotated[str, Form(max_length=service.MAX_DRAFT)] = "",
) -> Response:
    hints = await service.tone_hints(uow, viewer.principal, ticket_id, text)
    return render(request, "ui/_assist.html", {"viewer": viewer, "hints": hints}, block="hints")
