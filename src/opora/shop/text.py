"""Order numbers in free text: "заказ №12345", "order #A-1001", "номер заказа: 77-12". Pure."""

from __future__ import annotations

import re

# A keyword is required: bare numbers in messages are phone numbers, sums and ticket numbers too.
_MENTION = re.compile(
    r"(?:заказ[а-яё]*|order|ордер[а-яё]*)\s*(?:(?:№|#|no\.?|nr\.?|number|номер)\s*)?[:\-]?\s*"
    r"(?P<number>[#№]?[A-Za-z]{0,4}-?\d[\w\-/]{0,30})",
    re.IGNORECASE,
)
_SIGN = re.compile(r"№\s*(?P<number>\d[\d\-]{2,30})")
MAX_NUMBERS = 5
MIN_LENGTH = 3  # "заказ 2" is a count, not a number


def extract_order_numbers(text: str) -> list[str]:
    """Order numbers mentioned in ``text``, in order of appearance, without duplicates."""
    hits: list[tuple[int, str]] = []
    for pattern in (_MENTION, _SIGN):
        for match in pattern.finditer(text or ""):
            number = match.group("number").lstrip("#№").rstrip("-/_")
            if len(number) >= MIN_LENGTH:
                hits.append((match.start("number"), number))
    result: list[str] = []
    for _, number in sorted(hits):
        if number.lower() not in (n.lower() for n in result):
            result.append(number)
    return result[:MAX_NUMBERS]
