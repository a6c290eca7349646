"""Pure helpers: folding text for search, and the variable values a template is filled with."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """The form stored and compared for search: case-folded in every script, "ё" read as "е"
    (Russian writers use either), runs of white space as one space."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    return _SPACES.sub(" ", folded).strip()


def search_text(*, title: str, body: str, shortcut: str | None, tags: Iterable[str]) -> str:
    # A newline keeps a query from matching across two fields ("title end" + "body start").
    return "\n".join(fold(part) for part in (title, shortcut or "", " ".join(tags), body))


def first_name(full_name: str | None) -> str | None:
    """The first word of a name as people write it ("Ирина Петрова" → "Ирина")."""
    words = (full_name or "").split()
    return words[0] if words else None


@dataclass(frozen=True, slots=True)
class RenderContext:
    """Everything a template may name, as plain data read from the ticket and the agent."""

    ticket_number: int
    ticket_subject: str
    ticket_status: str
    customer_name: str | None
    customer_email: str | None
    agent_name: str
    order_number: str | None


def values_for(context: RenderContext) -> Mapping[str, str | None]:
    return {
        "customer.name": context.customer_name or None,
        "customer.first_name": first_name(context.customer_name),
        "customer.email": context.customer_email,
        "ticket.number": str(context.ticket_number),
        "ticket.subject": context.ticket_subject or None,
        "ticket.status": context.ticket_status,
        "agent.name": context.agent_name,
        "agent.first_name": first_name(context.agent_name),
        "order.number": context.order_number,
    }
