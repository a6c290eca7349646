"""The customer's own requests on the portal: sign-in by e-mailed link, the list of their
tickets, one ticket's public messages and the reply box (ADR 0024).

The portal session is a cookie of its own (``opora_portal``, httpOnly, path ``/help``), never
an agent session; forms of a signed-in customer carry a CSRF token derived from the session.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from opora.auth.deps import RuntimeDep, Uow
from opora.kit.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from opora.kit.time import utcnow
from opora.portal import links
from opora.portal import service as portal
from opora.web.i18n import gettext as _
from opora.web.portal.common import PREFIX, language_of, page, same_origin

router = APIRouter(include_in_schema=False)

COOKIE = "opora_portal"
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
Token = Annotated[str, Form(max_length=links.MAX_TOKEN_LENGTH)]


def _key(runtime: RuntimeDep) -> bytes:
    return links.link_key(runtime.settings.resolved_secret_key())


async def _session(request: Request, uow: Uow, runtime: RuntimeDep) -> portal.PortalSession:
    return await portal.authenticate(uow, _key(runtime), request.cookies.get(COOKIE), utcnow())


async def _checked_session(request: Request, uow: Uow, runtime: RuntimeDep) -> portal.PortalSession:
    """For a POST: the session and its CSRF token, which only our own page can know."""
    session = await _session(request, uow, runtime)
    field = (await request.form()).get("csrf_token")
    if not links.csrf_matches(
        _key(runtime), request.cookies.get(COOKIE, ""), field if isinstance(field, str) else None
    ):
        raise Forbidden("The form is out of date; reload the page and try again.")
    return session


def _to_login(language: str) -> Response:
    return RedirectResponse(f"{PREFIX}/{language}/login", status_code=303)


@router.get(PREFIX + "/{lang}/login")
async def login_page(request: Request, lang: str, uow: Uow) -> Response:
    language = language_of(lang)
    available = await portal.mail_channel(uow) is not None
    return page(
        request,
        language,
        "portal/login.html",
        available=available,
        email="",
        error=None,
        sent=False,
        noindex=True,
        headers=PRIVATE,
    )


@router.post(PREFIX + "/{lang}/login")
async def login_request(
    request: Request,
    lang: str,
    uow: Uow,
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    language = language_of(lang)
    same_origin(request)
    try:
        await portal.request_link(uow, email, language=language, now=utcnow())
    except portal.NoEmailChannel:
        return page(
            request, language, "portal/login.html", available=False, email=email, error=None,
            sent=False, noindex=True, status_code=503, headers=PRIVATE,
        )  # fmt: skip
    except InvalidInput:
        return page(
            request, language, "portal/login.html", available=True, email=email,
            error=_("Enter an e-mail address, like name@example.com."), sent=False, noindex=True,
            status_code=422, headers=PRIVATE,
        )  # fmt: skip
    return page(
        request, language, "portal/login.html", available=True, email=email.strip(), error=None,
        sent=True, noindex=True, headers=PRIVATE,
    )  # fmt: skip


@router.get(PREFIX + "/{lang}/login/{token}")
async def link_page(request: Request, lang: str, token: str, uow: Uow, runtime: RuntimeDep) -> Response:
    """Shows a button that spends the link: mail scanners that fetch links must not sign in."""
    language = language_of(lang)
    try:
        await portal.check_link(uow, _key(runtime), token, utcnow())
    except portal.LinkRefused as exc:
        return page(
            request, language, "portal/link_refused.html", message=_(exc.message), noindex=True,
            status_code=exc.status_code, headers=PRIVATE,
        )  # fmt: skip
    return page(request, language, "portal/link.html", token=token, noindex=True, headers=PRIVATE)


@router.post(PREFIX + "/{lang}/login/{token}")
async def link_open(request: Request, lang: str, token: str, uow: Uow, runtime: RuntimeDep) -> Response:
    language = language_of(lang)
    same_origin(request)
    try:
        cookie, _login = await portal.open_session(
            uow, _key(runtime), token[: links.MAX_TOKEN_LENGTH + 1], utcnow()
        )
    except portal.LinkRefused as exc:
        return page(
            request, language, "portal/link_refused.html", message=_(exc.message), noindex=True,
            status_code=exc.status_code, headers=PRIVATE,
        )  # fmt: skip
    response = RedirectResponse(f"{PREFIX}/{language}/requests", status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(portal.SESSION_TTL.total_seconds()),
        httponly=True,
        secure=runtime.settings.secure_cookies,
        samesite="lax",
        path=PREFIX,
    )
    return response


@router.post(PREFIX + "/{lang}/logout")
async def logout(request: Request, lang: str, uow: Uow, runtime: RuntimeDep) -> Response:
    language = language_of(lang)
    try:
        session = await _checked_session(request, uow, runtime)
    except Unauthenticated:
        session = None
    if session is not None:
        await portal.end_session(uow, session, utcnow())
    response = RedirectResponse(f"{PREFIX}/{language}", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


@router.get(PREFIX + "/{lang}/requests")
async def my_requests(request: Request, lang: str, uow: Uow, runtime: RuntimeDep) -> Response:
    language = language_of(lang)
    try:
        session = await _session(request, uow, runtime)
    except Unauthenticated:
        return _to_login(language)
    tickets = await portal.my_tickets(uow, session)
    return page(
        request, language, "portal/requests.html", session=session, tickets=tickets, noindex=True,
        headers=PRIVATE,
    )  # fmt: skip


def _ticket_id(value: str) -> int:
    if not value.isdigit() or len(value) > 18:
        raise NotFound("This request does not exist.")
    return int(value)


@router.get(PREFIX + "/{lang}/requests/{ticket_id}")
async def my_request(request: Request, lang: str, ticket_id: str, uow: Uow, runtime: RuntimeDep) -> Response:
    language = language_of(lang)
    try:
        session = await _session(request, uow, runtime)
    except Unauthenticated:
        return _to_login(language)
    ticket, messages = await portal.my_ticket(uow, session, _ticket_id(ticket_id))
    return page(
        request, language, "portal/request.html", session=session, ticket=ticket, messages=messages,
        text="", error=None, noindex=True, headers=PRIVATE,
    )  # fmt: skip


@router.post(PREFIX + "/{lang}/requests/{ticket_id}")
async def my_request_reply(
    request: Request, lang: str, ticket_id: str, uow: Uow, runtime: RuntimeDep
) -> Response:
    language = language_of(lang)
    try:
        session = await _checked_session(request, uow, runtime)
    except Unauthenticated:
        return _to_login(language)
    number = _ticket_id(ticket_id)
    field = (await request.form()).get("text")
    text = field if isinstance(field, str) else ""
    try:
        await portal.reply(uow, session, number, text)
    except (InvalidInput, Conflict) as exc:
        await uow.restart()
        ticket, messages = await portal.my_ticket(uow, session, number)
        return page(
            request, language, "portal/request.html", session=session, ticket=ticket, messages=messages,
            text=text, error=_(exc.message), noindex=True, status_code=exc.status_code, headers=PRIVATE,
        )  # fmt: skip
    return RedirectResponse(f"{PREFIX}/{language}/requests/{number}#latest", status_code=303)
