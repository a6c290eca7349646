"""API shapes for ticket activity."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from opora.kit.schema import Input, Output


class ActivityState(StrEnum):
    VIEWING = "viewing"
    TYPING = "typing"
    LEFT = "left"


class ActivityIn(Input):
    state: ActivityState


class ActivityOut(Output):
    ticket_id: int
    state: ActivityState
    at: datetime
    expires_in: int
