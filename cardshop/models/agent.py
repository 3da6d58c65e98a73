"""Agents (代理): the sales force. Orders made through an agent's shop link point here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, created_at_column
from .catalog import LEVELS


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
    # The lowest level month-start re-evaluation may leave (levels granted by operators).
    level_floor: Mapped[int] = mapped_column(default=0)
    verified: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = created_at_column()

    # Real-name verification (实名). The ID number itself is never stored: only its masked
    # form for display and a keyed digest that makes one ID number one account.
    id_card_masked: Mapped[str] = mapped_column(String(18), default="")
    id_card_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # Login throttling: failures since the last success, and the lock they caused.
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def can_sell(self) -> bool:
        return self.active and self.verified

    @property
    def level_name(self) -> str:
        return LEVELS[self.level] if 0 <= self.level < len(LEVELS) else str(self.level)

    # Flask-Login's user protocol, without importing Flask into the models. The id is
    # prefixed so agents and operators can share one login manager.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"agent:{self.id}"
