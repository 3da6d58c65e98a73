"""Agents (代理): the sales force. Orders made through an agent's shop link point here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, created_at_column


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(11), unique=True)
    name: Mapped[str] = mapped_column(String(40), default="")
    password_hash: Mapped[str] = mapped_column(String(200), default="")
    invite_code: Mapped[str] = mapped_column(String(12), unique=True)
    shop_code: Mapped[str] = mapped_column(String(20), unique=True)
    shop_name: Mapped[str] = mapped_column(String(60), default="")
    upline_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    level: Mapped[int] = mapped_column(default=0)
    verified: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = created_at_column()

    @property
    def can_sell(self) -> bool:
        return self.active and self.verified
