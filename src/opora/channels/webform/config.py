"""A web-form channel's settings, read once and checked when an admin saves them.

Settings: ``public_key`` (required; the form's address ``/forms/{public_key}``), ``allowed_origins``
(shop sites that may post from their own pages), ``language`` (the form's language when the
browser says nothing), ``title`` / ``title_ru`` (the page heading), ``min_fill_seconds`` (default 3;
0 turns the timer off), ``max_per_ip`` and ``max_per_email`` per ``rate_window_minutes`` (default 5
and 3 per 60), ``max_files`` (5) and ``max_file_mb`` (10). For replies by mail, the email channel's
``address`` and ``smtp_*`` settings and the secret ``smtp_password``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

_KEY = re.compile(r"^[A-Za-z0-9_-]{12,64}$")
# What a customer may attach to a support request: pictures, PDFs, office documents, text,
# archives. Nothing a browser would run when an agent opens it.
ALLOWED_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/heic",
        "application/pdf",
        "text/plain",
        "text/csv",
        "application/zip",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
)


@dataclass(frozen=True)
class FormSettings:
    public_key: str
    allowed_origins: frozenset[str]
    language: str
    title: str | None
    title_ru: str | None
    min_fill_seconds: int
    max_per_ip: int
    max_per_email: int
    rate_window_minutes: int
    max_files: int
    max_file_bytes: int


def load(settings: Mapping[str, Any]) -> FormSettings:
    key = settings.get("public_key")
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValueError("'public_key' must be 12 to 64 letters, digits, '-' or '_'")
    origins = settings.get("allowed_origins") or []
    if not isinstance(origins, list) or not all(isinstance(o, str) and _is_origin(o) for o in origins):
        raise ValueError("'allowed_origins' must be a list of origins such as https://shop.example")
    language = settings.get("language", "ru")
    if language not in ("ru", "en"):
        raise ValueError("'language' must be ru or en")
    return FormSettings(
        public_key=key,
        allowed_origins=frozenset(o.rstrip("/").lower() for o in origins),
        language=language,
        title=_title(settings.get("title"), "title"),
        title_ru=_title(settings.get("title_ru"), "title_ru"),
        min_fill_seconds=_number(settings, "min_fill_seconds", 3, 0, 3600),
        max_per_ip=_number(settings, "max_per_ip", 5, 1, 10_000),
        max_per_email=_number(settings, "max_per_email", 3, 1, 10_000),
        rate_window_minutes=_number(settings, "rate_window_minutes", 60, 1, 7 * 24 * 60),
        max_files=_number(settings, "max_files", 5, 0, 20),
        max_file_bytes=_number(settings, "max_file_mb", 10, 1, 50) * 1024 * 1024,
    )


def check_config(settings: Mapping[str, Any], _secrets: Mapping[str, Any]) -> None:
    load(settings)


def _is_origin(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and parts.path in ("", "/")


def _title(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise ValueError(f"'{name}' must be text of at most 200 characters")
    return value.strip() or None


def _number(settings: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = settings.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"'{name}' must be a whole number from {low} to {high}")
    return value
