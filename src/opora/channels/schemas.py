"""API shapes for channels. Secrets go in and never come out: answers list their names only."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from opora.kit.schema import Input, Name, Output

MAX_ID = 2**63 - 1
MAX_SETTINGS_BYTES = 16_384
MAX_SECRETS = 20

TypeName = Annotated[str, StringConstraints(min_length=1, max_length=30, pattern=r"^[a-z][a-z0-9_]*$")]
Key = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")]
SecretValue = Annotated[str, StringConstraints(min_length=1, max_length=8000)]


def _settings_size(value: dict[str, Any] | None) -> dict[str, Any] | None:
    # Settings are read on every inbound message; a megabyte of JSON there is a mistake.
    if value is not None and len(json.dumps(value, ensure_ascii=False).encode()) > MAX_SETTINGS_BYTES:
        raise ValueError(f"settings are limited to {MAX_SETTINGS_BYTES} bytes of JSON")
    return value


Settings = Annotated[dict[Key, Any], AfterValidator(_settings_size)]
# In updates a key sent as null is removed (a JSON merge patch, one level deep).
SettingsPatch = Annotated[dict[Key, Any | None], AfterValidator(_settings_size)]


class ChannelCreate(Input):
    type: TypeName
    name: Name
    settings: Settings = Field(default_factory=dict)
    secrets: Annotated[dict[Key, SecretValue], Field(max_length=MAX_SECRETS)] = Field(default_factory=dict)


class ChannelUpdate(Input):
    """Only the fields sent change. ``settings`` and ``secrets`` are merged key by key into the
    stored ones and a key sent as null is removed, because stored secrets cannot be read back
    to send a complete set. ``is_active`` true reactivates a deactivated channel."""

    name: Name | None = None
    settings: SettingsPatch | None = None
    secrets: Annotated[dict[Key, SecretValue | None], Field(max_length=MAX_SECRETS)] | None = None
    is_active: bool | None = None


class ChannelOut(Output):
    id: int
    type: str
    name: str
    settings: dict[str, Any]
    secret_keys: list[str]
    # Set when stored secrets cannot be decrypted (OPORA_SECRET_KEY changed): re-enter them.
    secrets_error: str | None = None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class ChannelTypesOut(Output):
    types: list[str]
