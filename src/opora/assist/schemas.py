"""API shapes of agent assistance."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from opora.kit.schema import Input, Output


class SettingsIn(Input):
    # Length and count are checked by the service, which the admin screen calls too.
    discouraged_phrases: list[Annotated[str, Field(max_length=1000)]] = Field(max_length=1000)


class SettingsOut(Output):
    discouraged_phrases: list[str]


class ToneIn(Input):
    ticket_id: int
    text: str = Field(max_length=100_000)


class HintOut(Output):
    code: str
    ru: str
    en: str


class SimilarOut(Output):
    ticket_id: int
    subject: str
    solved_at: datetime | None
    reply_text: str
    reply_agent_id: int | None
    score: float


class ReindexOut(Output):
    queued: bool
