"""API shapes for notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import Field, model_validator

from opora.kit.schema import Input, Output
from opora.notifications.models import NotificationKind


class NotificationOut(Output):
    id: int
    kind: NotificationKind
    ticket_id: int | None
    ticket_subject: str | None
    message_id: int | None
    actor_id: int | None
    actor_name: str | None
    text: str = Field(description="A short snippet: the note, the ticket's subject or the rule's text.")
    created_at: datetime
    read_at: datetime | None


class UnreadCount(Output):
    unread: int


class ReadIn(Input):
    """Either ``ids`` (the caller's own notifications; others are ignored) or ``all: true``."""

    ids: list[int] | None = Field(default=None, max_length=500)
    all: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.ids is None) == (not self.all):
            raise ValueError("give either ids or all: true")
        return self


class ReadOut(Output):
    marked: list[int] = Field(description="Ids that were unread and are read now.")
    unread: int
