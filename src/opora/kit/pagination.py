"""Opaque cursors for keyset pagination: stable and fast at any depth."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from opora.kit.errors import InvalidInput

T = TypeVar("T")

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


def encode_cursor(*values: Any) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("The cursor is not valid.", field="cursor") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidInput("The cursor is not valid.", field="cursor")
    return values


def cursor_datetime(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidInput("The cursor is not valid.", field="cursor") from exc


def cursor_int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput("The cursor is not valid.", field="cursor")
    return value


def split_page(
    rows: Sequence[T], limit: int, position: Callable[[T], tuple[Any, ...]]
) -> tuple[list[T], str | None]:
    """Rows were fetched with ``limit + 1``: keep ``limit`` and make the cursor if there are more."""
    page = list(rows[:limit])
    if len(rows) <= limit or not page:
        return page, None
    return page, encode_cursor(*position(page[-1]))
