"""API shapes for login and API tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from opora.agents.schemas import AgentOut, TimeZone
from opora.kit.schema import Input, Language, Name, Output


class LoginIn(Input):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=200)


class LoginOut(Output):
    agent: AgentOut
    csrf_token: str


class TokenCreate(Input):
    name: Name
    agent_id: int | None = None


class TokenOut(Output):
    id: int
    agent_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenIssued(TokenOut):
    token: str = Field(description="Shown once; only its hash is stored.")


class PreferencesIn(Input):
    """The caller's own preferences; fields left out stay as they are."""

    language: Language | None = None
    timezone: TimeZone | None = None
