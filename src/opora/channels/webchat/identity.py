"""Signed visitor identity: the shop vouches for a logged-in customer with an HMAC.

The shop computes, on its server, ``hex(HMAC-SHA256(secret, message))`` where ``secret`` is the
channel's ``identity_secret`` and ``message`` is the UTF-8 string ``"{id}:{email}"``: ``id`` is
the shop's customer id (may be empty), ``email`` the address trimmed and lower-cased (may be
empty, but not both). A visitor whose signature does not match stays anonymous: the identity it
claims is ignored, never trusted. Pure functions; no clock, no database.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

MAX_ID = 200


@dataclass(frozen=True)
class Claim:
    """What the page says about the visitor; only trusted once ``verify`` accepts it."""

    id: str = ""
    email: str = ""
    name: str = ""
    signature: str = ""


def signed_message(customer_id: str, email: str) -> bytes:
    return f"{customer_id.strip()}:{email.strip().lower()}".encode()


def sign(secret: str, customer_id: str, email: str) -> str:
    """What the shop's server computes (also used by tests and the docs' example)."""
    return hmac.new(secret.encode(), signed_message(customer_id, email), hashlib.sha256).hexdigest()


def verify(secret: str | None, claim: Claim) -> bool:
    if not secret or not claim.signature or not (claim.id.strip() or claim.email.strip()):
        return False
    if len(claim.id) > MAX_ID:
        return False
    expected = sign(secret, claim.id, claim.email)
    return hmac.compare_digest(expected.encode(), claim.signature.strip().lower().encode())
