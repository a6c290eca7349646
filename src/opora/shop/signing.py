"""Webhook signatures: ours (timestamped, hex), Shopify's (base64 of the body), InSales' (none)."""

from __future__ import annotations

import base64
import hashlib
import hmac

TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``"<timestamp>.<raw body>"``, as our outbound webhooks."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_generic(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, *, now: float
) -> bool:
    # A fresh timestamp inside the signed text stops a captured request from being replayed later.
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature.strip())


def shopify_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_shopify(secret: str, signature: str | None, body: bytes) -> bool:
    return bool(signature) and hmac.compare_digest(shopify_signature(secret, body), (signature or "").strip())


def verify_token(secret: str, given: str | None) -> bool:
    """InSales does not sign webhooks; the secret travels in the webhook URL instead (HTTPS only)."""
    return bool(given) and hmac.compare_digest(secret.encode(), (given or "").encode())
