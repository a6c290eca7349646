"""Customers and their identities on every channel."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, JsonType, UTCDateTime
from opora.kit.time import utcnow


class IdentityKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    TELEGRAM = "telegram"
    VK = "vk"
    WHATSAPP = "whatsapp"
    VIBER = "viber"
    WEBCHAT = "webchat"
    SHOP = "shop"


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str | None] = mapped_column(String(8))
    segment: Mapped[str | None] = mapped_column(String(40))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    timezone: Mapped[str | None] = mapped_column(String(64))
    # Lifetime order figures, kept up to date by the shop module on every order write so that
    # rules, SLA policies and lists read them without a join; they survive erasure.
    orders_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    total_spent_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    spend_currency: Mapped[str | None] = mapped_column(String(3))
    last_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The other lifetime figures, kept the same way (opora.customers.figures) on ticket creation,
    # ratings, merges and by the periodic refresh; the CSAT average is csat_total / csat_count.
    tickets_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    csat_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    csat_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Who chose the segment: "manual" (an agent, an admin or the shop; rules never change it) or
    # "rule" (a segment rule; re-evaluated whenever the figures change). None: no segment.
    segment_source: Mapped[str | None] = mapped_column(String(10))
    # Personal data was erased (152-FZ / GDPR request); the row stays for aggregate figures.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when this record was merged into another one; the survivor holds everything.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, index=True)


class CustomerIdentity(Base):
    __tablename__ = "customer_identities"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerTag(Base):
    __tablename__ = "customer_tags"
    __table_args__ = (Index("ix_customer_tags_tag", "tag", "customer_id"),)

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)


class CustomerNote(Base):
    """A private note of an agent about the customer (never shown to the customer)."""

    __tablename__ = "customer_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    author_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerMerge(Base):
    """What one merge moved, so that it can be undone exactly (unmerge)."""

    __tablename__ = "customer_merges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    survivor_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    merged_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    # {"identities": [...], "tickets": [...], "messages": [...], "orders": [...], "notes": [...],
    #  "tags": [...], "customers": [...]}: ids that moved from merged_id to survivor_id.
    moved: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    # Profile fields of the survivor that were blank and filled from the merged record.
    absorbed: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    actor_type: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MergeDismissal(Base):
    """An agent said two customers are different people: never suggest the pair again."""

    __tablename__ = "customer_merge_dismissals"

    low_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    high_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SegmentSource(StrEnum):
    MANUAL = "manual"
    RULE = "rule"


class SegmentRule(Base):
    """An admin's rule "these lifetime figures make this segment"; the first active match wins."""

    __tablename__ = "customer_segment_rules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    segment: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer, default=0)
    # {"all": [...], "any": [...]} over the figure fields of opora.customers.figures.
    conditions: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SegmentChange(Base):
    """The audit of a customer's segment: every change, by a person or by a rule."""

    __tablename__ = "customer_segment_changes"
    __table_args__ = (Index("ix_customer_segment_changes_customer", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    old: Mapped[str | None] = mapped_column(String(40))
    new: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str | None] = mapped_column(String(10))
    # Plain id, no foreign key: the audit outlives a deleted rule.
    rule_id: Mapped[int | None] = mapped_column()
    actor_type: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
