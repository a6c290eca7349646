"""API shapes of /api/v1/bot."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from opora.kit.schema import Input, Language, Output

IntentKey = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^([a-z][a-z0-9_]{1,59}|__oos__)$")
]
Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
MAX_EXAMPLES = 500


class IntentCreate(Input):
    language: Language
    key: IntentKey
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    reply: Annotated[str, StringConstraints(max_length=5000)] = ""
    kb_article_id: int | None = None
    handoff: bool = False
    enabled: bool = True
    examples: list[Phrase] = Field(default_factory=list, max_length=MAX_EXAMPLES)


class IntentUpdate(Input):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    reply: Annotated[str, StringConstraints(max_length=5000)] | None = None
    kb_article_id: int | None = None
    handoff: bool | None = None
    enabled: bool | None = None
    # Replaces every example phrase of the intent when given.
    examples: list[Phrase] | None = Field(default=None, max_length=MAX_EXAMPLES)


class ExampleIn(Input):
    text: Phrase


class ExampleOut(Output):
    id: int
    text: str


class IntentOut(Output):
    id: int
    language: str
    key: str
    title: str
    reply: str
    kb_article_id: int | None
    handoff: bool
    enabled: bool
    examples: list[ExampleOut]
    updated_at: datetime


class StarterIn(Input):
    language: Language


class SettingsIn(Input):
    max_wrong_rate: float = Field(gt=0.0, le=0.5)


class SettingsOut(Output):
    language: str
    max_wrong_rate: float


class TrainIn(Input):
    language: Language


class TrainOut(Output):
    language: str
    queued: bool


class ModelOut(Output):
    id: int
    language: str
    status: str
    encoder: str
    max_wrong_rate: float
    threshold: float | None
    examples: int
    metrics: dict[str, Any]
    error: str | None
    created_at: datetime
    trained_at: datetime | None


class ClassifyIn(Input):
    text: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    language: Language


class PredictionOut(Output):
    intent: str | None
    confidence: float
    abstained: bool
    out_of_scope: bool
    model_version: int | None
    threshold: float | None
    alternatives: list[tuple[str, float]]


class ChannelBotIn(Input):
    enabled: bool
    languages: list[Language] = Field(default_factory=lambda: ["ru", "en"], max_length=2)


class ChannelBotOut(Output):
    channel_id: int
    channel_type: str
    channel_name: str
    supported: bool
    enabled: bool
    languages: list[str]
    default: bool


class ConversationOut(Output):
    ticket_id: int
    status: str
    step: str
    language: str
    intent: str | None
    confidence: float | None
    model_version: int | None
    end_reason: str | None
    created_at: datetime
    ended_at: datetime | None
