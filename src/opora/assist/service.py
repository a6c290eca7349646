"""Agent assistance use cases: the similar-tickets index, the panel beside the composer, the
tone check and its settings. Endpoints and pages are thin wrappers around these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opora.ai import tone
from opora.assist import repository as repo
from opora.assist import similar
from opora.assist import templates as ranking
from opora.assist.models import AssistSettings
from opora.auth.permissions import Principal, can_see_ticket
from opora.bot import service as bot_service
from opora.bot.embeddings import Embedder, bot_embedder
from opora.canned import service as canned_service
from opora.canned.models import CannedResponse
from opora.db import UnitOfWork
from opora.kb.search import service as kb_search
from opora.kb.search.service import Hit
from opora.kit.errors import InvalidInput
from opora.kit.time import utcnow
from opora.tickets.models import Ticket
from opora.tickets.service import visible_ticket

# The customer's latest messages a ticket is matched by, and the first ones a solved one is
# indexed by.
QUERY_MESSAGES = 3
DOC_MESSAGES = 5
SIMILAR_LIMIT = 3
ARTICLE_LIMIT = 3
# Candidates read before visibility is checked; an agent who sees few teams may get fewer.
CANDIDATES = 60
TEMPLATE_POOL = 200
# The enrichment marks a message angry from this anger score (opora.ai.enrich).
UPSET_ANGER = 0.45
MAX_PHRASES = 100
MAX_PHRASE = 200
MAX_DRAFT = 100_000


# ---- The index ------------------------------------------------------------------------------


async def index_solved(uow: UnitOfWork, ticket_ids: Sequence[int]) -> int:
    """(Re)writes the index entries of these tickets; a ticket without a public agent reply is
    left out (there is nothing to reuse). Set-based: a fixed number of queries per call."""
    found = await repo.sources(uow.session, ticket_ids, max_messages=DOC_MESSAGES)
    docs = []
    for source in found:
        stems = similar.doc_stems([source.subject, *source.texts])
        if source.reply_message_id is not None and stems:
            docs.append((source.ticket_id, source.reply_message_id, stems))
    await repo.replace_docs(uow.session, ticket_ids, docs, utcnow())
    return len(docs)


async def reindex_batch(uow: UnitOfWork, *, after_id: int, limit: int) -> list[int]:
    ids = await repo.solved_ticket_ids(uow.session, after_id=after_id, limit=limit)
    await index_solved(uow, ids)
    return ids


# ---- Similar solved tickets -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimilarTicket:
    ticket_id: int
    subject: str
    solved_at: datetime | None
    reply_text: str
    reply_agent_id: int | None
    score: float


async def _similar(
    uow: UnitOfWork, principal: Principal, ticket_id: int, query: Sequence[str], limit: int
) -> list[SimilarTicket]:
    postings = await repo.postings(uow.session, query, window=similar.WINDOW)
    if not postings:
        return []
    found, weight = similar.candidates(postings, limit=CANDIDATES)
    missing = similar.unseen(query, similar.frequencies(postings))
    matched = {c.ticket_id: c.matched for c in found}
    rows = await repo.solved_rows(uow.session, list(matched), exclude=ticket_id)
    out = []
    for row in rows:
        if not can_see_ticket(principal, team_id=row.team_id, assignee_id=row.assignee_id):
            continue
        if similar.coverage(matched[row.ticket_id], weight, missing) < similar.MIN_COVERAGE:
            continue
        out.append(
            SimilarTicket(
                ticket_id=row.ticket_id,
                subject=row.subject,
                solved_at=row.solved_at,
                reply_text=row.reply_text,
                reply_agent_id=row.reply_agent_id,
                score=similar.similarity(matched[row.ticket_id], weight, row.terms, missing),
            )
        )
    out.sort(key=lambda s: (-s.score, -s.ticket_id))
    return out[:limit]


async def similar_tickets(
    uow: UnitOfWork, principal: Principal, ticket_id: int, *, limit: int = SIMILAR_LIMIT
) -> list[SimilarTicket]:
    """Solved tickets the agent may see whose customer wrote about the same thing, each with the
    reply that solved it, best first."""
    ticket = await visible_ticket(uow, principal, ticket_id)
    messages = await repo.latest_customer_messages(uow.session, ticket.id, limit=QUERY_MESSAGES)
    query = similar.query_stems([*(text for text, _ in messages), ticket.subject])
    return await _similar(uow, principal, ticket.id, query, max(1, min(limit, 10)))


# ---- Suggested templates --------------------------------------------------------------------


async def _intent(uow: UnitOfWork, text: str, language: str | None, embedder: Embedder | None) -> str | None:
    """The bot's intent for the text, only when the encoder is already in memory: loading it
    takes seconds, and a page must not wait for that.

    A hint for the agent, not an answer to the customer: the intent counts whenever the message
    is in scope, even where the bot abstains from answering (its threshold guards what customers
    read, and a small intent set may never reach it)."""
    if embedder is None:
        shared = bot_embedder(language)
        embedder = shared if shared.loaded else None
    if not text or language not in ("ru", "en") or embedder is None:
        return None
    prediction = await bot_service.classify(uow, text, language, embedder=embedder)
    return None if prediction.out_of_scope else prediction.intent


async def suggested_templates(
    uow: UnitOfWork,
    principal: Principal,
    ticket: Ticket,
    query: Sequence[str],
    *,
    intent: str | None,
) -> list[CannedResponse]:
    language = ticket.language if ticket.language in ("ru", "en") else None
    pool = await canned_service.search(uow, principal, None, language=language, limit=TEMPLATE_POOL)
    by_id = {t.id: t for t in pool}
    texts = [ranking.TemplateText(t.id, t.title, t.body, t.tags) for t in pool]
    best = ranking.rank(texts, query=query, topic=ticket.topic, intent=intent)
    return [by_id[t.id] for t, _ in best]


# ---- The panel ------------------------------------------------------------------------------


@dataclass(slots=True)
class Panel:
    ticket: Ticket
    similar: list[SimilarTicket] = field(default_factory=list)
    templates: list[CannedResponse] = field(default_factory=list)
    articles: list[Hit] = field(default_factory=list)
    intent: str | None = None


async def panel(
    uow: UnitOfWork, principal: Principal, ticket_id: int, *, embedder: Embedder | None = None
) -> Panel:
    """Everything the assistance panel shows, in a fixed number of queries. ``embedder`` is the
    bot's sentence encoder; by default the process's own, and only if it is loaded already."""
    ticket = await visible_ticket(uow, principal, ticket_id)
    messages = await repo.latest_customer_messages(uow.session, ticket.id, limit=QUERY_MESSAGES)
    texts = [text for text, _ in messages]
    query = similar.query_stems([*texts, ticket.subject])
    intent = await _intent(uow, texts[0] if texts else ticket.subject, ticket.language, embedder)
    found = Panel(ticket=ticket, intent=intent)
    found.similar = await _similar(uow, principal, ticket.id, query, SIMILAR_LIMIT)
    found.templates = await suggested_templates(uow, principal, ticket, query, intent=intent)
    found.articles = (await kb_search.suggest_for_ticket(uow, principal, ticket.id, limit=ARTICLE_LIMIT)).hits
    return found


# ---- Tone check -----------------------------------------------------------------------------


def upset(metadata: dict[str, Any]) -> bool:
    """Whether the enrichment read the message as angry or negative."""
    ai = metadata.get("ai")
    if not isinstance(ai, dict):
        return False
    anger = ai.get("anger")
    angry = isinstance(anger, int | float) and anger >= UPSET_ANGER
    return angry or ai.get("sentiment") == "negative"


async def discouraged_phrases(uow: UnitOfWork) -> list[str]:
    row = await repo.get_settings(uow.session)
    return list(tone.DEFAULT_DISCOURAGED) if row is None else list(row.discouraged_phrases)


async def tone_hints(uow: UnitOfWork, principal: Principal, ticket_id: int, draft: str) -> list[tone.Hint]:
    """Hints on an agent's draft for this ticket; advice only, sending never waits for it."""
    if len(draft) > MAX_DRAFT:
        raise InvalidInput(f"A draft is at most {MAX_DRAFT} characters.", field="text")
    ticket = await visible_ticket(uow, principal, ticket_id)
    if not draft.strip():
        return []
    messages = await repo.latest_customer_messages(uow.session, ticket.id, limit=1)
    customer_upset = bool(messages) and upset(messages[0][1])
    return tone.check(draft, customer_upset=customer_upset, discouraged=await discouraged_phrases(uow))


def clean_phrases(phrases: Sequence[str]) -> list[str]:
    """Trimmed, each once whatever its case, in the admin's order; refuses what cannot be right."""
    kept: dict[str, str] = {}
    for raw in phrases:
        phrase = " ".join(raw.split())
        if not phrase:
            continue
        if len(phrase) > MAX_PHRASE:
            raise InvalidInput(f"A phrase is at most {MAX_PHRASE} characters.", field="discouraged_phrases")
        kept.setdefault(phrase.casefold(), phrase)
    if len(kept) > MAX_PHRASES:
        raise InvalidInput(f"At most {MAX_PHRASES} phrases.", field="discouraged_phrases")
    return list(kept.values())


async def update_settings(uow: UnitOfWork, phrases: Sequence[str]) -> list[str]:
    cleaned = clean_phrases(phrases)
    row = await repo.get_settings(uow.session, for_update=True)
    if row is None:
        row = AssistSettings(id=1, discouraged_phrases=cleaned)
        uow.session.add(row)
    row.discouraged_phrases = cleaned
    row.updated_at = utcnow()
    await uow.session.flush()
    return cleaned
