"""What was sent to upstream (the carrier or distributor that issues the cards)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, created_at_column, utcnow
from .order import Order


class UpstreamSubmission(Base):
    """One order's hand-over to upstream. One row per order: submitting is idempotent
    by order number, so a retry updates this row and never sends a second order."""

    __tablename__ = "upstream_submissions"
    __table_args__ = (Index("ix_upstream_submissions_state", "state", "polled_at"),)

    STATES = ("sending", "sent", "failed")

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    adapter: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(12), default="sending")
    upstream_ref: Mapped[str] = mapped_column(String(64), default="")
    upstream_status: Mapped[str] = mapped_column(String(20), default="")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(String(300), default="")
    actor: Mapped[str] = mapped_column(String(60), default="system")
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    order: Mapped[Order] = relationship(lazy="joined")
