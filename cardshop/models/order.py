"""Orders and the history of their status transitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..validation import mask_id_card, mask_name, mask_phone
from .base import Base, UTCDateTime, created_at_column, utcnow
from .catalog import Product

# code -> label shown to customers and agents, in the order an order moves.
STATUSES = {
    "submitted": "已提交",
    "opening": "开卡中",
    "shipped": "已发货",
    "activated": "已激活",
    "recharged": "已首充",
    "settled": "已结算",
    "rejected": "审核失败",
    "open_failed": "开卡失败",
    "cancelled": "已取消",
}
DEAD_STATUSES = frozenset({"rejected", "open_failed", "cancelled"})


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_phone_created", "customer_phone", "created_at"),
        Index("ix_orders_idcard_carrier_created", "id_card", "carrier", "created_at"),
        Index("ix_orders_agent_created", "agent_id", "created_at"),
        # An agent's orders filtered by status (the agent's order list), counted from the index.
        Index("ix_orders_agent_status_created", "agent_id", "status", "created_at"),
        Index("ix_orders_status_created", "status", "created_at"),
        Index("ix_orders_product_created", "product_id", "created_at"),
        # The ops order list: newest first overall, and one shop's orders newest first.
        Index("ix_orders_created", "created_at"),
        Index("ix_orders_shop_created", "shop_code", "created_at"),
        # One shop's orders in one status (the ops list filtered by both), newest first.
        Index("ix_orders_shop_status_created", "shop_code", "status", "created_at"),
        # Cards an agent activated in a month (levels, the dashboard), summed from the index.
        Index("ix_orders_agent_activated", "agent_id", "activated_at", "qty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_no: Mapped[str] = mapped_column(String(24), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    request_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    carrier: Mapped[str] = mapped_column(String(16))
    qty: Mapped[int] = mapped_column(default=1)
    price_fen: Mapped[int] = mapped_column(default=0)
    msisdn: Mapped[str | None] = mapped_column(String(11))
    # Equals msisdn while the order is live, NULL once it is dead: the unique
    # constraint on it means a number is on at most one live order (I2).
    number_claim: Mapped[str | None] = mapped_column(String(11), unique=True)

    customer_name: Mapped[str] = mapped_column(String(40))
    id_card: Mapped[str] = mapped_column(String(18))
    customer_phone: Mapped[str] = mapped_column(String(11))
    province: Mapped[str] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(30))
    district: Mapped[str] = mapped_column(String(30))
    address_detail: Mapped[str] = mapped_column(String(120))

    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    shop_code: Mapped[str | None] = mapped_column(String(20))

    status: Mapped[str] = mapped_column(String(16), default="submitted")
    status_reason: Mapped[str] = mapped_column(String(200), default="")
    courier: Mapped[str] = mapped_column(String(40), default="")
    tracking_no: Mapped[str] = mapped_column(String(60), default="")
    # When the card was activated (the accepted 已激活 event's time), kept on the order so
    # an agent's monthly activations are an index range, not a walk through every event.
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    product: Mapped[Product] = relationship(lazy="joined")
    events: Mapped[list[OrderEvent]] = relationship(back_populates="order", order_by="OrderEvent.id", lazy="selectin")

    @property
    def status_label(self) -> str:
        return STATUSES.get(self.status, self.status)

    @property
    def live(self) -> bool:
        return self.status not in DEAD_STATUSES

    def to_customer(self) -> dict[str, Any]:
        """What the customer who placed it may see: personal data masked (I7)."""
        return {
            "order_no": self.order_no,
            "status": self.status,
            "status_label": self.status_label,
            "reason": self.status_reason,
            "sku": self.product.sku,
            "product_name": self.product.name,
            "qty": self.qty,
            "number": self.msisdn,
            "customer": {
                "name": mask_name(self.customer_name),
                "id_card": mask_id_card(self.id_card),
                "phone": mask_phone(self.customer_phone),
            },
            "address": {"province": self.province, "city": self.city, "district": self.district},
            "courier": self.courier,
            "tracking_no": self.tracking_no,
            "created_at": self.created_at.isoformat(),
            "timeline": [event.to_public() for event in self.events],
        }


class OrderEvent(Base):
    """One transition of an order's status, with who moved it and why."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order", "order_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    from_status: Mapped[str] = mapped_column(String(16), default="")
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(20), default="system")
    accepted: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = created_at_column()

    order: Mapped[Order] = relationship(back_populates="events")

    def to_public(self) -> dict[str, Any]:
        return {
            "status": self.to_status,
            "label": STATUSES.get(self.to_status, self.to_status),
            "reason": self.reason,
            "at": self.created_at.isoformat(),
        }
