"""The similar-tickets index (one document per solved ticket, an inverted list of its stems) and
the desk's communication-style settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, JsonType, UTCDateTime
from opora.kit.time import utcnow

MAX_STEM = 60


class SolvedDoc(Base):
    """A solved ticket as the index knows it: the reply that solved it and how many stems it has."""

    __tablename__ = "assist_solved_docs"

    ticket_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    # The last public agent reply before the ticket was solved: what an agent may reuse.
    reply_message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    terms: Mapped[int] = mapped_column(Integer)
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SolvedTerm(Base):
    """One stem of one solved ticket. The primary key (stem, ticket_id) is the posting list: the
    newest tickets having a stem are one backward index scan away."""

    __tablename__ = "assist_solved_terms"
    __table_args__ = (Index("ix_assist_solved_terms_ticket", "ticket_id"),)

    stem: Mapped[str] = mapped_column(String(MAX_STEM), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )


class AssistSettings(Base):
    """One row (id 1); absent means the defaults of :mod:`opora.ai.tone`."""

    __tablename__ = "assist_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Phrases the shop's style avoids («Уважаемый клиент» where the voice is informal).
    discouraged_phrases: Mapped[list[str]] = mapped_column(JsonType, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
