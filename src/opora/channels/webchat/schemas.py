"""Shapes of the widget's HTTP calls. The widget posts JSON as text/plain, so that a call from
the shop's origin is a "simple" cross-origin request and needs no preflight."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from opora.kit.schema import Email, Input, Output

Token = Annotated[str, StringConstraints(min_length=20, max_length=100)]
ClientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
MAX_TEXT = 10_000


class ClaimIn(Input):
    id: Annotated[str, StringConstraints(max_length=200)] = ""
    email: Annotated[str, StringConstraints(max_length=254)] = ""
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    signature: Annotated[str, StringConstraints(max_length=128)] = ""


class SessionIn(Input):
    channel: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    token: Token | None = None
    language: Annotated[str, StringConstraints(max_length=35)] | None = None
    identity: ClaimIn | None = None
    after_id: int = Field(default=0, ge=0)


class FileOut(Output):
    id: int
    name: str
    type: str
    size: int
    url: str


class WidgetMessage(Output):
    id: int
    ticket_id: int
    author: str  # visitor, agent, bot, system
    text: str
    created_at: str
    status: str
    client_id: str | None = None
    agent_name: str | None = None
    agent_initials: str | None = None
    files: list[FileOut] = Field(default_factory=list)
    # The bot's quick replies ([label, payload]); a click sends the label as the visitor's text.
    buttons: list[list[str]] = Field(default_factory=list)


class SuggestionOut(Output):
    title: str
    url: str


class SuggestionsOut(Output):
    articles: list[SuggestionOut]


class SessionOut(Output):
    token: str
    visitor: str
    language: str
    identity: str  # none, verified, ignored
    offline: str | None  # None (agents answer live), "closed" (outside hours), "no_agents"
    email: str | None
    settings: dict[str, Any]
    messages: list[WidgetMessage]


class MessageIn(Input):
    client_id: ClientId
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT)] = ""
    email: Email | None = None


class Ack(Output):
    client_id: str
    duplicate: bool
