"""Use cases for channels: validate (check_*), then write.

Secrets are sealed with ``runtime.secrets`` before they reach the database and are opened only
for adapters (:func:`channel_secrets`); API answers carry their names, never their values.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from opora.channels import registry, repository
from opora.channels.base import ChannelAdapter, ChannelConfig
from opora.channels.models import Channel
from opora.channels.registry import ChannelType, UnknownChannelType
from opora.channels.schemas import (
    MAX_ID,
    MAX_SECRETS,
    MAX_SETTINGS_BYTES,
    ChannelCreate,
    ChannelOut,
    ChannelUpdate,
)
from opora.db import UnitOfWork
from opora.kit.errors import InvalidInput, NotFound
from opora.kit.pagination import cursor_int, decode_cursor, split_page
from opora.runtime import Runtime

# Setting names that almost surely hold a credential: it would be stored in clear and shown
# to every admin, so it is refused with a pointer to ``secrets``.
SECRET_LIKE = ("password", "passwd", "token", "secret", "api_key", "apikey", "private_key", "credential")


def check_type(type_name: str) -> ChannelType:
    try:
        return registry.get_type(type_name)
    except UnknownChannelType:
        known = ", ".join(registry.known_types())
        raise InvalidInput(
            f"Unknown channel type {type_name!r}; known types: {known}.", field="type"
        ) from None


def check_settings(settings: Mapping[str, Any]) -> None:
    for key in settings:
        if any(word in key.lower() for word in SECRET_LIKE):
            raise InvalidInput(
                f"The setting {key!r} looks like a secret; send it in 'secrets', which are stored "
                "encrypted and never shown.",
                field=f"settings.{key}",
            )
    if len(json.dumps(dict(settings), ensure_ascii=False).encode()) > MAX_SETTINGS_BYTES:
        raise InvalidInput(f"Settings are limited to {MAX_SETTINGS_BYTES} bytes of JSON.", field="settings")


def check_config(channel_type: ChannelType, settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
    """The channel package's own check (a bot token present, a port in range, ...)."""
    if channel_type.check_config is None:
        return
    try:
        channel_type.check_config(settings, secrets)
    except ValueError as exc:
        raise InvalidInput(
            f"The {channel_type.name} channel is not configured right: {exc}", field="settings"
        ) from exc


async def create_channel(uow: UnitOfWork, runtime: Runtime, data: ChannelCreate) -> Channel:
    channel_type = check_type(data.type)
    check_settings(data.settings)
    check_config(channel_type, data.settings, data.secrets)
    channel = Channel(
        type=channel_type.name,
        name=data.name,
        settings=dict(data.settings),
        secrets_encrypted=runtime.secrets.seal(dict(data.secrets)),
        is_active=True,
    )
    return await repository.insert_channel(uow.session, channel)


async def get_channel(uow: UnitOfWork, channel_id: int) -> Channel:
    channel = await repository.get_channel(uow.session, channel_id) if channel_id <= MAX_ID else None
    if channel is None:
        raise NotFound(f"Channel {channel_id} does not exist.")
    return channel


async def list_channels(
    uow: UnitOfWork,
    *,
    limit: int,
    cursor: str | None = None,
    type_name: str | None = None,
    active: bool | None = None,
) -> tuple[list[Channel], str | None]:
    after = cursor_int(decode_cursor(cursor, 1)[0]) if cursor else None
    found = await repository.list_channels(
        uow.session, limit=limit + 1, after_id=after, type_name=type_name, active=active
    )
    return split_page(found, limit, lambda channel: (channel.id,))


async def update_channel(uow: UnitOfWork, runtime: Runtime, channel_id: int, data: ChannelUpdate) -> Channel:
    channel = await get_channel(uow, channel_id)
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None:
            raise InvalidInput(f"{key} cannot be null.", field=key)
    settings = dict(channel.settings)
    if "settings" in changes:
        check_settings({k: v for k, v in changes["settings"].items() if v is not None})
        settings = _merge(settings, changes["settings"])
        check_settings(settings)
    secrets = _readable_secrets(runtime, channel)
    if "secrets" in changes:
        # Undecryptable old secrets (changed OPORA_SECRET_KEY) are dropped: nobody can use them.
        secrets = _merge(secrets, changes["secrets"])
        if len(secrets) > MAX_SECRETS:
            raise InvalidInput(f"A channel has at most {MAX_SECRETS} secrets.", field="secrets")
    if "settings" in changes or "secrets" in changes:
        # If the type's package is gone there is nothing to check; renaming and deactivating
        # must still work.
        with contextlib.suppress(UnknownChannelType):
            check_config(registry.get_type(channel.type), settings, secrets)
    if "name" in changes:
        channel.name = changes["name"]
    if "is_active" in changes:
        channel.is_active = changes["is_active"]
    if "settings" in changes:
        channel.settings = settings  # a new dict, so the JSON column is seen as changed
    if "secrets" in changes:
        channel.secrets_encrypted = runtime.secrets.seal(secrets)
    await uow.session.flush()
    return channel


def _merge(stored: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**stored, **patch}
    return {k: v for k, v in merged.items() if v is not None}


def _readable_secrets(runtime: Runtime, channel: Channel) -> dict[str, Any]:
    try:
        return channel_secrets(runtime, channel)
    except ValueError:
        return {}


async def deactivate_channel(uow: UnitOfWork, channel_id: int) -> Channel:
    """Stop receiving and sending on a channel; its tickets and settings stay. Idempotent."""
    channel = await get_channel(uow, channel_id)
    channel.is_active = False
    await uow.session.flush()
    return channel


def channel_secrets(runtime: Runtime, channel: Channel) -> dict[str, Any]:
    """The channel's secrets in clear, for its adapter only. ValueError if they cannot be
    decrypted (OPORA_SECRET_KEY changed since they were stored)."""
    return runtime.secrets.open(channel.secrets_encrypted)


def channel_config(runtime: Runtime, channel: Channel) -> ChannelConfig:
    return ChannelConfig(
        id=channel.id,
        type=channel.type,
        name=channel.name,
        settings=dict(channel.settings),
        secrets=channel_secrets(runtime, channel),
    )


def adapter_for(runtime: Runtime, channel: Channel) -> ChannelAdapter | None:
    """The channel's adapter; None for types without one ("api"). UnknownChannelType if the
    type's package is not installed."""
    factory = registry.get(channel.type)
    return None if factory is None else factory(channel_config(runtime, channel))


def channel_out(runtime: Runtime, channel: Channel) -> ChannelOut:
    try:
        keys, error = sorted(channel_secrets(runtime, channel)), None
    except ValueError as exc:
        keys, error = [], str(exc)
    return ChannelOut(
        id=channel.id,
        type=channel.type,
        name=channel.name,
        settings=channel.settings or {},
        secret_keys=keys,
        secrets_error=error,
        is_active=channel.is_active,
        created_at=channel.created_at,
        updated_at=channel.updated_at,
    )
