"""Admin screens for channels: the list, and a settings form per channel type.

Secrets are write-only here as in the API: the page learns only which secret names are stored,
shows them as "set", and offers an empty field to replace each one. A stored value never goes
back to the browser, not even into a re-rendered form after an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from opora.auth.deps import RuntimeDep, Uow
from opora.bot import channels as bot_channels
from opora.bot.channels import ChannelBot
from opora.channels import registry
from opora.channels import service as channels_service
from opora.channels.registry import UnknownChannelType
from opora.channels.schemas import ChannelCreate, ChannelUpdate
from opora.kit.errors import AppError
from opora.web.i18n import gettext as _
from opora.web.templating import render
from opora.web.ui import admin_repository
from opora.web.ui.admin_common import Errors, from_refusal, from_validation, page, recover, text, texts
from opora.web.ui.deps import AdminViewer, Viewer

router = APIRouter(include_in_schema=False)

EMPTY_ROWS = 3


def declared(type_name: str) -> tuple[list[str], list[str]]:
    """The setting and secret names a channel type declares, so that the form lists them even
    before they are set. The registry may not declare any (then the form offers free rows)."""
    try:
        channel_type = registry.get_type(type_name)
    except UnknownChannelType:
        return [], []
    settings = getattr(channel_type, "settings", ()) or ()
    secrets = getattr(channel_type, "secrets", ()) or ()
    return [str(getattr(s, "name", s)) for s in settings], [str(getattr(s, "name", s)) for s in secrets]


def shown_value(value: Any) -> str:
    """Text for a settings input: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def read_value(raw: str) -> Any:
    """Numbers, true/false, lists and objects are read as JSON; anything else is text."""
    if raw and raw[0] in "-0123456789[{tfn":
        try:
            value = json.loads(raw)
        except ValueError:
            return raw
        return raw if value is None else value
    return raw


@dataclass
class ChannelForm:
    type: str
    name: str = ""
    settings: list[tuple[str, str]] = field(default_factory=list)  # (key, text) rows in page order
    secret_names: list[str] = field(default_factory=list)
    secret_values: dict[str, str] = field(default_factory=dict)  # replacements; never shown
    removed_secrets: set[str] = field(default_factory=set)


def form_rows(form: FormData) -> ChannelForm:
    keys, raw_values = texts(form, "setting_key"), texts(form, "setting_value")
    rows = [(k.strip(), v.strip()) for k, v in zip(keys, raw_values, strict=False) if k.strip()]
    names, values = texts(form, "secret_name"), texts(form, "secret_value")
    secrets = {n.strip(): v for n, v in zip(names, values, strict=False) if n.strip() and v}
    new_name = text(form, "new_secret_name")
    new_value = (texts(form, "new_secret_value") or [""])[0]
    if new_name and new_value:
        secrets[new_name] = new_value
    return ChannelForm(
        type=text(form, "type"),
        name=text(form, "name"),
        settings=rows,
        secret_names=[n.strip() for n in names if n.strip()],
        secret_values=secrets,
        removed_secrets={n for n in texts(form, "secret_remove") if n},
    )


def _messages() -> dict[str, str]:
    return {
        "name": _("Enter a name of up to 200 characters."),
        "type": _("Choose a channel type from the list."),
        "settings": _("Setting names use Latin letters, digits, '_', '.' and '-'."),
        "secrets": _("Secret names use Latin letters, digits, '_', '.' and '-'."),
    }


def _refusal(exc: AppError) -> Errors:
    if exc.field and exc.field.startswith("settings."):
        return {"settings": _("This looks like a secret: add it under Secrets instead.")}
    if exc.field == "settings" and isinstance(exc.__cause__, ValueError):
        # Only the channel package knows its settings, so its own (English) words name the problem.
        problem = _("The channel is not configured right: {problem}").format(problem=exc.__cause__)
        return {"settings": problem}
    return from_refusal(exc, _messages())


async def _form_page(
    request: Request,
    viewer: Viewer,
    form: ChannelForm,
    *,
    channel: Any = None,
    secret_keys: list[str] | None = None,
    secrets_error: str | None = None,
    errors: Errors,
    done: str = "",
    status_code: int = 200,
    bot: ChannelBot | None = None,
    bot_errors: Errors | None = None,
) -> Response:
    declared_settings, declared_secrets = declared(form.type)
    present = {key for key, _value in form.settings}
    rows = form.settings + [(key, "") for key in declared_settings if key not in present]
    rows += [("", "")] * EMPTY_ROWS
    stored = list(secret_keys or [])
    secret_rows = [(name, name in stored) for name in dict.fromkeys([*stored, *declared_secrets])]
    context = page(
        viewer,
        "channels",
        form=form,
        channel=channel,
        rows=rows,
        secret_rows=secret_rows,
        secrets_error=secrets_error,
        errors=errors,
        done=done,
        bot=bot,
        bot_errors=bot_errors or {},
    )
    return render(request, "ui/admin/channel_form.html", context, status_code=status_code)


@router.get("/admin/channels")
async def channels_list(
    request: Request, uow: Uow, runtime: RuntimeDep, viewer: AdminViewer, done: str = ""
) -> Response:
    channels = [
        channels_service.channel_out(runtime, c) for c in await admin_repository.all_channels(uow.session)
    ]
    context = page(viewer, "channels", channels=channels, done=done)
    return render(request, "ui/admin/channels.html", context)


@router.get("/admin/channels/new")
async def channel_new(
    request: Request,
    viewer: AdminViewer,
    channel_type: Annotated[str, Query(alias="type", max_length=30)] = "",
) -> Response:
    if channel_type not in registry.known_types():
        context = page(viewer, "channels", types=registry.known_types())
        return render(request, "ui/admin/channel_type.html", context)
    return await _form_page(request, viewer, ChannelForm(type=channel_type), errors={})


@router.post("/admin/channels")
async def channel_create(request: Request, uow: Uow, runtime: RuntimeDep, viewer: AdminViewer) -> Response:
    form = form_rows(await request.form())
    settings = {key: read_value(raw) for key, raw in form.settings if raw}
    errors: Errors = {}
    try:
        data = ChannelCreate.model_validate(
            {"type": form.type, "name": form.name, "settings": settings, "secrets": form.secret_values}
        )
    except ValidationError as exc:
        errors.update(from_validation(exc, _messages()))
    status_code = 422
    if not errors:
        try:
            created = await channels_service.create_channel(uow, runtime, data)
        except AppError as exc:
            errors, status_code = _refusal(exc), exc.status_code
    if errors:
        await recover(uow, viewer)
        return await _form_page(request, viewer, form, errors=errors, status_code=status_code)
    return RedirectResponse(f"/admin/channels/{created.id}?done=created", status_code=303)


@router.get("/admin/channels/{channel_id}")
async def channel_edit(
    request: Request, channel_id: int, uow: Uow, runtime: RuntimeDep, viewer: AdminViewer, done: str = ""
) -> Response:
    channel = channels_service.channel_out(runtime, await channels_service.get_channel(uow, channel_id))
    form = ChannelForm(
        type=channel.type,
        name=channel.name,
        settings=[(key, shown_value(value)) for key, value in channel.settings.items()],
    )
    bot = await bot_channels.get(uow, channel_id)
    return await _edit_page(request, viewer, form, channel, errors={}, done=done, bot=bot)


async def _edit_page(
    request: Request,
    viewer: Viewer,
    form: ChannelForm,
    channel: Any,
    *,
    errors: Errors,
    done: str = "",
    status_code: int = 200,
    bot: ChannelBot | None = None,
    bot_errors: Errors | None = None,
) -> Response:
    return await _form_page(
        request,
        viewer,
        form,
        channel=channel,
        secret_keys=channel.secret_keys,
        secrets_error=channel.secrets_error,
        errors=errors,
        done=done,
        status_code=status_code,
        bot=bot,
        bot_errors=bot_errors,
    )


@router.post("/admin/channels/{channel_id}")
async def channel_update(
    request: Request, channel_id: int, uow: Uow, runtime: RuntimeDep, viewer: AdminViewer
) -> Response:
    stored = await channels_service.get_channel(uow, channel_id)
    form = form_rows(await request.form())
    form.type = stored.type
    wanted = {key: read_value(raw) for key, raw in form.settings if raw}
    settings_patch: dict[str, Any] = {**{key: None for key in stored.settings if key not in wanted}, **wanted}
    secrets_patch: dict[str, Any] = {name: None for name in form.removed_secrets}
    secrets_patch.update(form.secret_values)
    changes: dict[str, Any] = {"name": form.name, "settings": settings_patch}
    if secrets_patch:
        changes["secrets"] = secrets_patch
    errors: Errors = {}
    try:
        data = ChannelUpdate.model_validate(changes)
    except ValidationError as exc:
        errors.update(from_validation(exc, _messages()))
    status_code = 422
    if not errors:
        try:
            await channels_service.update_channel(uow, runtime, channel_id, data)
        except AppError as exc:
            errors, status_code = _refusal(exc), exc.status_code
    if errors:
        await recover(uow, viewer)
        channel = channels_service.channel_out(runtime, await channels_service.get_channel(uow, channel_id))
        bot = await bot_channels.get(uow, channel_id)
        return await _edit_page(
            request, viewer, form, channel, errors=errors, status_code=status_code, bot=bot
        )
    return RedirectResponse(f"/admin/channels/{channel_id}?done=saved", status_code=303)


@router.post("/admin/channels/{channel_id}/deactivate")
async def channel_deactivate(channel_id: int, uow: Uow, viewer: AdminViewer) -> Response:
    await channels_service.deactivate_channel(uow, channel_id)
    return RedirectResponse(f"/admin/channels/{channel_id}?done=deactivated", status_code=303)


@router.post("/admin/channels/{channel_id}/activate")
async def channel_activate(channel_id: int, uow: Uow, runtime: RuntimeDep, viewer: AdminViewer) -> Response:
    await channels_service.update_channel(uow, runtime, channel_id, ChannelUpdate(is_active=True))
    return RedirectResponse(f"/admin/channels/{channel_id}?done=activated", status_code=303)


@router.post("/admin/channels/{channel_id}/bot")
async def channel_bot(
    request: Request, channel_id: int, uow: Uow, runtime: RuntimeDep, viewer: AdminViewer
) -> Response:
    """The bot section of the channel page: on or off, and its languages."""
    submitted = await request.form()
    enabled = text(submitted, "bot_enabled") == "1"
    languages = [code for code in texts(submitted, "bot_language") if code]
    try:
        await bot_channels.put(uow, channel_id, enabled=enabled, languages=languages)
    except AppError as exc:
        if exc.status_code == 404:
            raise
        await recover(uow, viewer)
        out = channels_service.channel_out(runtime, await channels_service.get_channel(uow, channel_id))
        form = ChannelForm(
            type=out.type, name=out.name, settings=[(k, shown_value(v)) for k, v in out.settings.items()]
        )
        bot = await bot_channels.get(uow, channel_id)
        problem = (
            _("Choose at least one language for the bot.")
            if exc.field == "languages"
            else _("The bot cannot talk on this kind of channel.")
        )
        return await _edit_page(
            request,
            viewer,
            form,
            out,
            errors={},
            status_code=exc.status_code,
            bot=bot,
            bot_errors={"bot": problem},
        )
    return RedirectResponse(f"/admin/channels/{channel_id}?done=saved", status_code=303)
