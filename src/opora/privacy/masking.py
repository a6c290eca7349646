"""Card numbers (PAN) never stay in stored or displayed text. Pure.

A run of 13–19 digits, optionally grouped by single spaces or dashes, that passes the Luhn check
is masked except its last four digits: "4111 1111 1111 1111" → "**** **** **** 1111". Runs that
fail Luhn (order numbers, phones, tracking codes) are left alone, which keeps false hits rare.
"""

from __future__ import annotations

import re

MIN_DIGITS, MAX_DIGITS = 13, 19
MASK = "*"
# Digits with at most one space or dash between them, not glued to other digits or letters.
_CANDIDATE = re.compile(r"(?<![\w\-])\d(?:[ \-]?\d){12,18}(?![\w])")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mask(match: re.Match[str]) -> str:
    run = match.group(0)
    digits = [c for c in run if c.isdigit()]
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS or not luhn_valid("".join(digits)):
        return run
    keep = len(digits) - 4
    seen = 0
    out = []
    for char in run:
        if char.isdigit():
            out.append(MASK if seen < keep else char)
            seen += 1
        else:
            out.append(char)
    return "".join(out)


def mask_cards(text: str) -> str:
    """``text`` with every Luhn-valid card number masked; unchanged (same object) when there is none."""
    if not text or sum(c.isdigit() for c in text) < MIN_DIGITS:
        return text
    return _CANDIDATE.sub(_mask, text)
