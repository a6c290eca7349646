"""Canned responses ("templates"): personal to one agent, or shared by the whole desk."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, JsonType, UTCDateTime
from opora.kit.time import utcnow


class CannedLanguage(StrEnum):
    RU = "ru"
    EN = "en"
    ANY = "any"


class CannedResponse(Base):
    __tablename__ = "canned_responses"
    __table_args__ = (
        # The library in title order, for one owner's personal templates or the shared ones.
        Index("ix_canned_responses_owner_sort", "owner_id", "sort_key", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # Typed in the composer after "/" or "#"; stored lower-cased.
    shortcut: Mapped[str | None] = mapped_column(String(50))
    language: Mapped[str] = mapped_column(String(3), default=CannedLanguage.ANY)
    tags: Mapped[list[str]] = mapped_column(JsonType, default=list)
    # NULL: shared with every agent; otherwise the one agent who sees and edits it.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    # Case-folded copies (SQLite's lower() and LIKE fold ASCII only, so Cyrillic needs them):
    # the title for ordering, title + shortcut + tags + body for substring search.
    sort_key: Mapped[str] = mapped_column(String(200))
    search_text: Mapped[str] = mapped_column(Text)
    # "|tag|other|": an exact tag match is a substring match, the same on both databases.
    tag_index: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def shared(self) -> bool:
        return self.owner_id is None

    def columns(self) -> dict[str, Any]:
        return {c.key: getattr(self, c.key) for c in self.__table__.columns}


def tag_marker(tag: str) -> str:
    return f"|{tag}|"


def tag_index(tags: list[str]) -> str:
    return "|" + "|".join(tags) + "|" if tags else ""
