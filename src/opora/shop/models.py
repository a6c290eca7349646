"""Shops that push data to the desk, and their orders."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opora.db import Base, BigId, JsonType, UTCDateTime
from opora.kit.time import utcnow


class Platform(StrEnum):
    GENERIC = "generic"  # Opora's own JSON format (docs/customers-and-orders.md)
    INSALES = "insales"
    SHOPIFY = "shopify"


class OrderStatus(StrEnum):
    NEW = "new"
    PAID = "paid"
    PROCESSING = "processing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    RETURNED = "returned"


class Shop(Base):
    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(20), default=Platform.GENERIC)
    # The API key is shown once; only its hash is kept, like agents' API tokens.
    key_prefix: Mapped[str] = mapped_column(String(12))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The webhook secret must be readable to check HMACs, so it is sealed, not hashed.
    webhook_secret_encrypted: Mapped[str] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(String(3), default="RUB")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("shop_id", "external_id"),
        Index("ix_orders_number", "number"),
        Index("ix_orders_customer_placed", "customer_id", "placed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(100))
    # What the customer sees and quotes ("1001", "A-2024-77"); stored without "#" or "№".
    number: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default=OrderStatus.NEW)
    # The platform's own status word, shown to agents next to the normalised one.
    status_label: Mapped[str] = mapped_column(String(100), default="")
    currency: Mapped[str] = mapped_column(String(3))
    # Minor units (kopecks, cents): exact sums in SQL on both backends.
    total_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # [{"sku", "name", "quantity", "price" (decimal string)}]
    items: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    delivery_method: Mapped[str] = mapped_column(String(200), default="")
    tracking_number: Mapped[str] = mapped_column(String(100), default="")
    tracking_url: Mapped[str] = mapped_column(String(500), default="")
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The shop's own "updated at": a webhook older than what we hold changes nothing.
    source_updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
