"""Tone check of an agent's draft against the shop's communication standards: hints, never blocking."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_GREETING = re.compile(
    r"^\s*(здравствуй|добр(ый|ое|ого)\s+(день|утро|вечер)|привет|доброго времени|hello|hi\b|hey\b|good (morning|afternoon|evening)|dear)",
    re.IGNORECASE,
)
_APOLOGY = re.compile(
    r"(извин|прошу прощени|прости|прошу прощения|сожале|жаль|sorry|apolog|regret)", re.IGNORECASE
)
_INFORMAL = re.compile(
    r"\b(ок|окей|щас|чё|че|норм|пжл|спс|кароч|короче|ну\s+так|lol|ok|gonna|wanna|dunno|np|thx|u|ur)\b",
    re.IGNORECASE,
)
# A shop with an informal voice lists these; a formal one lists slang instead.
DEFAULT_DISCOURAGED = ("уважаемый клиент", "ваше обращение очень важно для нас", "dear customer")


@dataclass(frozen=True, slots=True)
class Hint:
    code: str
    ru: str
    en: str


def check(
    draft: str, *, customer_upset: bool = False, discouraged: Sequence[str] = DEFAULT_DISCOURAGED
) -> list[Hint]:
    hints: list[Hint] = []
    lowered = draft.lower()
    if draft.strip() and not _GREETING.search(draft):
        hints.append(
            Hint("no_greeting", "Ответ начинается без приветствия.", "The reply starts without a greeting.")
        )
    if customer_upset and not _APOLOGY.search(draft):
        hints.append(
            Hint(
                "no_apology",
                "Клиент расстроен: стоит извиниться или посочувствовать.",
                "The customer is upset: consider an apology or a word of sympathy.",
            )
        )
    for phrase in discouraged:
        if phrase.lower() in lowered:
            hints.append(
                Hint(
                    "discouraged",
                    f"Фраза «{phrase}» не в стиле магазина.",
                    f"“{phrase}” is not in the shop's style.",
                )
            )
    if _INFORMAL.search(draft):
        hints.append(
            Hint("informal", "Слишком разговорно для ответа клиенту.", "Too informal for a customer reply.")
        )
    if draft.count("!") >= 3 or (
        sum(c.isupper() for c in draft) > 0.5 * max(1, sum(c.isalpha() for c in draft))
    ):
        hints.append(
            Hint("shouting", "Много восклицаний или заглавных букв.", "Many exclamation marks or capitals.")
        )
    return hints
