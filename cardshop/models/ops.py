"""Operators (运营管理员) and the records of what they did with personal data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, created_at_column


class Admin(UserMixin, Base):
    """An operator account for the /ops console, created with ``cardshop create-admin``."""

    __tablename__ = "admins"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(40), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()

    # Flask-Login: ids are prefixed so agents and admins never share one ("admin:3").
    def get_id(self) -> str:
        return f"admin:{self.id}"

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def display_name(self) -> str:
        return self.name or self.username

    @property
    def actor(self) -> str:
        """How this operator is named in ledgers and order history."""
        return f"admin:{self.username}"


class FulfilmentExport(Base):
    """One download of the fulfilment CSV, the only place with unmasked ID numbers (I7):
    who took it, when, with which filters and which orders."""

    __tablename__ = "fulfilment_exports"
    __table_args__ = (Index("ix_fulfilment_exports_created", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    admin_id: Mapped[int] = mapped_column(ForeignKey("admins.id"))
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    row_count: Mapped[int] = mapped_column(default=0)
    order_nos: Mapped[list[str]] = mapped_column(JSON, default=list)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = created_at_column()

    admin: Mapped[Admin] = relationship(lazy="joined")
