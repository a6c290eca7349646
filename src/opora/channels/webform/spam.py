"""Spam checks of a form submission that need no database: pure functions.

A bot fills every field and posts at once; a person leaves the hidden field empty and needs a few
seconds. The time the form was shown travels in the form itself, signed, so that a bot cannot
claim it opened the form long ago.
"""

from __future__ import annotations

import hashlib
import hmac

HONEYPOT_FIELD = "website"
TIMESTAMP_FIELD = "opora_ts"
# A form left open longer than this is refused as a replay; the page simply gets reloaded.
MAX_TOKEN_AGE = 24 * 3600


def sign_timestamp(key: bytes, channel_id: int, now: int) -> str:
    return f"{now}.{_mac(key, channel_id, now)}"


def check_timestamp(
    key: bytes, channel_id: int, token: str | None, *, now: int, min_seconds: int
) -> str | None:
    """None when the form was shown at least ``min_seconds`` ago by us; else the reason."""
    if min_seconds <= 0:
        return None
    if not token or "." not in token:
        return "missing_timestamp"
    shown, _, mac = token.partition(".")
    if not shown.isdigit() or not hmac.compare_digest(mac, _mac(key, channel_id, int(shown))):
        return "bad_timestamp"
    age = now - int(shown)
    if age < min_seconds:
        return "too_fast"
    if age > MAX_TOKEN_AGE:
        return "expired"
    return None


def honeypot_filled(value: str | None) -> bool:
    return bool(value and value.strip())


def _mac(key: bytes, channel_id: int, shown: int) -> str:
    return hmac.new(key, f"{channel_id}:{shown}".encode(), hashlib.sha256).hexdigest()[:32]


def derive_key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"opora webform timestamps", hashlib.sha256).digest()
