"""API shapes for canned responses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from opora.canned.models import CannedLanguage
from opora.kit.schema import Input, Name, Output

MAX_BODY = 20_000
MAX_TAGS = 20
Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=50, pattern=r"^[^|]+$"),
]
# Letters, digits, "_", "-" and "." in any script; what the composer matches after "/".
Shortcut = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^/?[\w.-]{1,49}$")
]
Body = Annotated[str, Field(min_length=1, max_length=MAX_BODY)]


class CannedCreate(Input):
    title: Name
    body: Body
    shortcut: Shortcut | None = None
    language: CannedLanguage = CannedLanguage.ANY
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    shared: bool = Field(default=False, description="Shared with every agent; supervisors and admins only.")


class CannedUpdate(Input):
    title: Name | None = None
    body: Body | None = None
    shortcut: Shortcut | None = None
    language: CannedLanguage | None = None
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    shared: bool | None = None


class CannedOut(Output):
    id: int
    title: str
    body: str
    shortcut: str | None
    language: CannedLanguage
    tags: list[str]
    shared: bool
    owner_id: int | None
    created_by: int | None
    variables: list[str] = Field(description="The variables the body uses, in order of first use.")
    created_at: datetime
    updated_at: datetime


class RenderIn(Input):
    ticket_id: int


class RenderOut(Output):
    canned_id: int
    ticket_id: int
    text: str
