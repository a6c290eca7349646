"""What every portal page shares: the language in the URL, rendering, the "still need help" links
and the error page. The portal has no agent session; its pages must work for any visitor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2_fragments import render_block

from opora.db import UnitOfWork
from opora.kit.errors import AppError, Forbidden, NotFound
from opora.portal import repository
from opora.web import i18n
from opora.web.i18n import gettext as _
from opora.web.templating import env

PREFIX = "/help"


def language_of(value: str) -> str:
    """The language segment of a portal URL; anything else is a page that does not exist."""
    if value not in i18n.LANGUAGES:
        raise NotFound("This page does not exist.")
    return value


def preferred_language(request: Request) -> str:
    return (
        i18n.normalise(request.cookies.get(i18n.LANGUAGE_COOKIE))
        or i18n.from_accept_language(request.headers.get("accept-language"))
        or i18n.DEFAULT_LANGUAGE
    )


def base_url(request: Request) -> str:
    """Absolute URLs (canonical, sitemap, links in mail) use the configured public address."""
    settings = request.app.state.runtime.settings
    return str(settings.public_url)


def other_language(language: str) -> str:
    return "en" if language == "ru" else "ru"


def page(
    request: Request,
    language: str,
    template: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    block: str | None = None,
    **context: Any,
) -> HTMLResponse:
    i18n.set_language(language)
    full = {
        "request": request,
        "language": language,
        "other_language": other_language(language),
        "prefix": PREFIX,
        "base_url": base_url(request),
        **context,
    }
    # A page without a counterpart in the other language switches to that language's home.
    if not full.get("switch_url"):
        full["switch_url"] = f"{PREFIX}/{other_language(language)}"
    if block is not None:
        html = render_block(env, template, block, full)
    else:
        html = env.get_template(template).render(full)
    return HTMLResponse(html, status_code=status_code, headers=headers)


def same_origin(request: Request) -> None:
    """Forms without a session (votes, sign-in) are taken from our own pages only: browsers name
    the sending page's origin, and a foreign one is refused."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
        raise Forbidden("This site may not send this form.")


@dataclass(frozen=True)
class HelpLinks:
    form_url: str | None
    chat_key: str | None


async def help_links(uow: UnitOfWork, language: str) -> HelpLinks:
    """The hosted web form and the chat widget of the desk, if it has them: where a visitor the
    articles did not help goes next."""
    form_url = chat_key = None
    for channel in await repository.active_channels(uow.session, ("webform", "webchat")):
        key = channel.settings.get("public_key")
        if not isinstance(key, str) or not key:
            continue
        if channel.type == "webform" and form_url is None:
            form_url = f"/forms/{key}?lang={language}"
        elif channel.type == "webchat" and chat_key is None:
            chat_key = key
    return HelpLinks(form_url, chat_key)


def error_page(request: Request, exc: AppError) -> HTMLResponse:
    segments = request.url.path.split("/")
    language = (
        segments[2] if len(segments) > 2 and segments[2] in i18n.LANGUAGES else preferred_language(request)
    )
    with i18n.use_language(language):
        titles = {
            401: _("Please sign in"),
            403: _("You may not open this"),
            404: _("Not found"),
            409: _("This cannot be done now"),
            410: _("This link no longer works"),
            422: _("Check what you entered"),
            429: _("Too many requests"),
        }
        return page(
            request,
            language,
            "portal/error.html",
            status_code=exc.status_code,
            title=titles.get(exc.status_code, _("Something went wrong")),
            message=_(exc.message),
            headers={"Cache-Control": "no-store"},
        )
