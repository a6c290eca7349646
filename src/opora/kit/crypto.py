"""Encryption of channel secrets at rest and hashing of bearer secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    """Fernet with a key derived from OPORA_SECRET_KEY, so one setting protects every secret."""

    def __init__(self, secret_key: str) -> None:
        digest = hashlib.sha256(b"opora/channel-secrets/" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, values: dict[str, Any]) -> str:
        if not values:
            return ""
        return self._fernet.encrypt(json.dumps(values).encode()).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        if not sealed:
            return {}
        try:
            opened: dict[str, Any] = json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken as exc:
            raise ValueError("channel secrets cannot be decrypted: was OPORA_SECRET_KEY changed?") from exc
        return opened


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    """For high-entropy random tokens a plain hash suffices; passwords use argon2 instead."""
    return hashlib.sha256(value.encode()).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def hmac_sha256_hex(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def hmac_hex_matches(given_hex: str, secret: str, data: bytes) -> bool:
    """Whether ``given_hex`` is the HMAC-SHA256 of ``data`` under ``secret``, in constant time.

    Compared as bytes, so a header with characters outside ASCII is a mismatch, not an error.
    """
    return constant_time_equal(given_hex, hmac_sha256_hex(secret, data))
