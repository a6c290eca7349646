"""Signed, expiring survey links: ``<survey id>.<expiry, unix seconds>.<HMAC-SHA256>``.

The link is the customer's only credential, so it must not be guessable (the HMAC) and must
stop working (the expiry, checked here and against the stored row). Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

MAX_TOKEN_LENGTH = 120


class BadToken(ValueError):
    """Forged, truncated or not a survey link at all."""


class ExpiredToken(ValueError):
    def __init__(self, survey_id: int) -> None:
        super().__init__("the survey link has expired")
        self.survey_id = survey_id


def link_key(secret_key: str) -> bytes:
    # A key of its own: a survey signature can never be replayed as any other kind of token.
    return hashlib.sha256(b"opora/csat-links/" + secret_key.encode()).digest()


def _mac(key: bytes, survey_id: int, expires: int) -> str:
    digest = hmac.new(key, f"csat:{survey_id}:{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(key: bytes, survey_id: int, expires_at: datetime) -> str:
    expires = int(expires_at.timestamp())
    return f"{survey_id}.{expires}.{_mac(key, survey_id, expires)}"


def verify(key: bytes, token: str, now: datetime) -> int:
    """The survey id of a genuine, unexpired link."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise BadToken("too long")
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or len(parts[0]) > 18:
        raise BadToken("malformed")
    survey_id, expires = int(parts[0]), int(parts[1])
    if not hmac.compare_digest(parts[2].encode(), _mac(key, survey_id, expires).encode()):
        raise BadToken("bad signature")
    if datetime.fromtimestamp(expires, UTC) <= now:
        raise ExpiredToken(survey_id)
    return survey_id
