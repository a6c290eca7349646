"""The Jinja environment of the HTML pages, its filters, and the response helpers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, format_timedelta
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from jinja2_fragments import render_block

from opora import __version__
from opora.kit.time import utcnow
from opora.web import i18n, labels

env = Environment(
    loader=PackageLoader("opora.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "Europe/Moscow")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def local_time(value: datetime | None, tz: str | None = None, style: str = "short") -> str:
    if value is None:
        return ""
    return format_datetime(value.astimezone(_zone(tz)), style, locale=i18n.current_language())


def ago(value: datetime | None) -> str:
    """ "5 minutes ago" in the page's language; the exact time goes in the element's title."""
    if value is None:
        return ""
    return format_timedelta(
        value - utcnow(), add_direction=True, threshold=1.1, locale=i18n.current_language()
    )


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return format_timedelta(timedelta(seconds=seconds), threshold=1.1, locale=i18n.current_language())


env.filters["local_time"] = local_time
env.filters["ago"] = ago
env.filters["duration"] = duration
env.filters["isoformat"] = lambda value: value.isoformat() if value else ""
env.globals["labels"] = labels
env.globals["version"] = __version__
env.globals["current_language"] = i18n.current_language


def _macro(name: str) -> Any:
    """A macro of ui/_macros.html as a global: htmx renders single blocks, which do not run a
    template's top-level imports, so per-row macros must be reachable without one."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(env.get_template("ui/_macros.html").module, name)(*args, **kwargs)

    return call


env.globals["sla_badge"] = _macro("sla_badge")
env.globals["languages"] = i18n.LANGUAGES


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    block: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The whole page, or only ``block`` of it (htmx swaps that part in place)."""
    context = {"request": request, **context}
    if block is not None:
        html = render_block(env, template, block, context)
    else:
        html = env.get_template(template).render(context)
    return HTMLResponse(html, status_code=status_code, headers=headers)
