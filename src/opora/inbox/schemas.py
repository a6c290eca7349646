"""API shapes of the inbox: raw payloads for admins."""

from __future__ import annotations

from datetime import datetime

from opora.kit.schema import Output


class PayloadOut(Output):
    id: int
    channel_id: int
    external_id: str
    content_type: str
    state: str
    error: str | None
    attempts: int
    received_at: datetime
    processed_at: datetime | None


class PayloadDetail(PayloadOut):
    payload: str
    encoding: str


class Accepted(Output):
    accepted: bool
    duplicate: bool
