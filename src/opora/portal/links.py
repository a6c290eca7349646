"""Signed, expiring magic links: ``<login id>.<expiry, unix seconds>.<HMAC-SHA256>``, and the
CSRF token of a portal session. Pure functions, no I/O.

The signature makes a link unguessable and lets a forged one be refused before any lookup; the
expiry is inside the signed text, so nobody can stretch it; single use is the stored row's job.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

MAX_TOKEN_LENGTH = 120


class BadLink(ValueError):
    """Forged, truncated, expired or not a portal link at all."""


def link_key(secret_key: str) -> bytes:
    # A key of its own: a portal signature can never be replayed as a survey link or anything else.
    return hashlib.sha256(b"opora/portal-links/" + secret_key.encode()).digest()


def _mac(key: bytes, text: str) -> str:
    digest = hmac.new(key, text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(key: bytes, login_id: int, expires_at: datetime) -> str:
    expires = int(expires_at.timestamp())
    return f"{login_id}.{expires}.{_mac(key, f'portal-login:{login_id}:{expires}')}"


def verify(key: bytes, token: str, now: datetime) -> tuple[int, int]:
    """The login id and expiry (unix seconds) of a genuine, unexpired link."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise BadLink("too long")
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or len(parts[0]) > 18:
        raise BadLink("malformed")
    login_id, expires = int(parts[0]), int(parts[1])
    if not hmac.compare_digest(parts[2].encode(), _mac(key, f"portal-login:{login_id}:{expires}").encode()):
        raise BadLink("bad signature")
    if len(parts[1]) > 12 or datetime.fromtimestamp(expires, UTC) <= now:
        raise BadLink("expired")
    return login_id, expires


def csrf_token(key: bytes, session_cookie: str) -> str:
    """Derived from the session, so nothing more is stored and it dies with the session."""
    return _mac(key, f"portal-csrf:{session_cookie}")


def csrf_matches(key: bytes, session_cookie: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), csrf_token(key, session_cookie).encode())
