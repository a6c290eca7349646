"""API shapes of CSAT surveys."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from opora.kit.schema import Input, Output

Texts = dict[Literal["ru", "en"], str]


class SettingsIn(Input):
    enabled: bool | None = None
    delay_minutes: int | None = Field(default=None, ge=0, le=60 * 24 * 14)
    link_valid_days: int | None = Field(default=None, ge=1, le=365)
    survey_texts: Texts | None = None
    reply_texts: dict[Literal["thanks", "sorry"], Texts] | None = None


class SettingsOut(Output):
    enabled: bool
    delay_minutes: int
    link_valid_days: int
    survey_texts: dict[str, str]
    reply_texts: dict[str, dict[str, str]]


class SurveyOut(Output):
    id: int
    ticket_id: int
    customer_id: int | None
    agent_id: int | None
    team_id: int | None
    channel_type: str
    language: str
    status: str
    message_id: int | None
    rating: int | None
    comment: str | None
    follow_up: str | None
    follow_up_by: int | None
    created_at: datetime
    sent_at: datetime | None
    expires_at: datetime | None
    answered_at: datetime | None


class ReplyIn(Input):
    kind: Literal["thanks", "sorry"]
