"""/forms/{public_key}: the hosted contact form, its POST endpoint (also for shops' own forms,
with CORS for the channel's allowed origins) and the thank-you page with the ticket number."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.datastructures import UploadFile

from opora.auth.deps import RuntimeDep, Uow
from opora.channels.webform import service, spam
from opora.channels.webform.config import FormSettings
from opora.channels.webform.service import Submission, Upload
from opora.kit.errors import AppError, Forbidden, PayloadTooLarge
from opora.kit.time import utcnow
from opora.web import i18n
from opora.web.i18n import gettext as _
from opora.web.templating import env

router = APIRouter(prefix="/forms", tags=["webform"])

Key = Annotated[str, Path(min_length=12, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
# Text fields of a form are small; the rest of a request is its files.
TEXT_ALLOWANCE = 256 * 1024


def _language(request: Request, form: FormSettings) -> str:
    return (
        i18n.normalise(request.query_params.get("lang"))
        or i18n.from_accept_language(request.headers.get("accept-language"))
        or form.language
    )


def _cors(request: Request, form: FormSettings) -> dict[str, str]:
    origin = (request.headers.get("origin") or "").rstrip("/").lower()
    if origin and origin in form.allowed_origins:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {"Vary": "Origin"}


def _check_origin(request: Request, form: FormSettings) -> None:
    """Browsers name the page a form was sent from; only ours and the shop's allowed sites may."""
    origin = (request.headers.get("origin") or "").rstrip("/").lower()
    if not origin or origin == "null":
        return
    own = f"{request.url.scheme}://{request.url.netloc}".lower()
    if origin != own and origin not in form.allowed_origins:
        raise Forbidden("This site may not send this form.")


def _page(
    template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    return HTMLResponse(env.get_template(template).render(context), status_code=status, headers=headers)


@router.get("/{public_key}", response_class=HTMLResponse)
async def form_page(public_key: Key, request: Request, uow: Uow, runtime: RuntimeDep) -> HTMLResponse:
    channel, form = await service.find_form(uow, public_key)
    language = _language(request, form)
    with i18n.use_language(language):
        return _page(
            "forms/form.html",
            form=form,
            language=language,
            action=f"/forms/{public_key}?lang={language}",
            token=service.new_timestamp(runtime, channel, utcnow()),
            values={},
            error=None,
            timestamp_field=spam.TIMESTAMP_FIELD,
            honeypot_field=spam.HONEYPOT_FIELD,
        )


@router.get("/{public_key}/token")
async def form_token(public_key: Key, request: Request, uow: Uow, runtime: RuntimeDep) -> JSONResponse:
    """For a shop's own form: fetch when the form is shown, send back in ``opora_ts``."""
    channel, form = await service.find_form(uow, public_key)
    body = {
        "field": spam.TIMESTAMP_FIELD,
        "token": service.new_timestamp(runtime, channel, utcnow()),
        "honeypot": spam.HONEYPOT_FIELD,
        "min_fill_seconds": form.min_fill_seconds,
    }
    return JSONResponse(body, headers={**_cors(request, form), "Cache-Control": "no-store"})


@router.options("/{public_key}")
@router.options("/{public_key}/token")
async def preflight(public_key: Key, request: Request, uow: Uow) -> Response:
    _channel, form = await service.find_form(uow, public_key)
    headers = _cors(request, form)
    if "Access-Control-Allow-Origin" in headers:
        headers |= {
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "Content-Type, Accept, Accept-Language",
            "Access-Control-Max-Age": "600",
        }
    return Response(status_code=204, headers=headers)


@router.post("/{public_key}", response_model=None)
async def submit_form(public_key: Key, request: Request, uow: Uow, runtime: RuntimeDep) -> Response:
    channel, form = await service.find_form(uow, public_key)
    language = _language(request, form)
    cors = _cors(request, form)
    html = "text/html" in request.headers.get("accept", "")
    values: dict[str, str] = {}
    try:
        _check_origin(request, form)
        limit = TEXT_ALLOWANCE + form.max_files * form.max_file_bytes
        if int(request.headers.get("content-length") or 0) > limit:
            raise PayloadTooLarge("The form with its files is too large.", field="files")
        # The context closes the uploads' temporary files whatever happens next.
        async with request.form(max_files=max(form.max_files, 1) + 1, max_fields=30) as data:
            values = {k: v for k, v in data.items() if isinstance(v, str) and k != spam.HONEYPOT_FIELD}
            honeypot = str(data.get(spam.HONEYPOT_FIELD) or "")
            files = [
                Upload(item.filename or "file", item.content_type or "", await item.read())
                for item in data.getlist("files")
                if isinstance(item, UploadFile) and item.filename
            ]
        submission = Submission(
            name=values.get("name", ""),
            email=values.get("email", ""),
            phone=values.get("phone", ""),
            subject=values.get("subject", ""),
            message=values.get("message", ""),
            honeypot=honeypot,
            timestamp=values.get(spam.TIMESTAMP_FIELD),
            language=language,
            page=request.headers.get("referer", ""),
            files=tuple(files),
        )
        client = request.client.host if request.client else "unknown"
        key = await service.submit(uow, runtime, channel, form, submission, ip=client, now=utcnow())
    except AppError as exc:
        if not html:
            return JSONResponse({"error": exc.to_dict()}, status_code=exc.status_code, headers=cors)
        with i18n.use_language(language):
            return _page(
                "forms/form.html",
                status=exc.status_code,
                form=form,
                language=language,
                action=f"/forms/{public_key}?lang={language}",
                token=service.new_timestamp(runtime, channel, utcnow()),
                values=values,
                error=_error_text(exc),
                timestamp_field=spam.TIMESTAMP_FIELD,
                honeypot_field=spam.HONEYPOT_FIELD,
            )
    thanks = f"/forms/{public_key}/thanks/{key}?lang={language}"
    if html:
        return RedirectResponse(thanks, status_code=303, headers=cors)
    return JSONResponse(
        {"accepted": True, "submission": key, "status_url": thanks}, status_code=202, headers=cors
    )


@router.get("/{public_key}/thanks/{submission}", response_class=HTMLResponse)
async def thanks_page(
    public_key: Key,
    submission: Annotated[str, Path(min_length=10, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
    request: Request,
    uow: Uow,
) -> HTMLResponse:
    channel, form = await service.find_form(uow, public_key)
    number = await service.ticket_number(uow, channel, submission)
    language = _language(request, form)
    with i18n.use_language(language):
        # Until the inbox job has run the page refreshes itself; it takes a moment.
        return _page("forms/thanks.html", form=form, language=language, number=number)


def _error_text(exc: AppError) -> str:
    if exc.code == "refused":
        return _("The form could not be sent. Please reload the page and try again.")
    if exc.code == "rate_limited":
        return _("You have sent several requests just now. Please try again later.")
    if exc.code == "too_large":
        return _("The attached files are too large.")
    by_field = {
        "contact": _("Give an e-mail address or a phone number so that we can answer."),
        "email": _("Check the e-mail address."),
        "phone": _("Check the phone number."),
        "message": _("Write your message."),
        "files": _("This file cannot be attached."),
    }
    return by_field.get(exc.field or "", _("Check the form and send it again."))
