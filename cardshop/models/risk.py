"""The blocklist (黑名单): ID numbers and phones that may not order, with the reason."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, created_at_column

BLOCK_KINDS = {"id_card": "身份证号", "phone": "手机号"}


class BlockEntry(Base):
    __tablename__ = "block_entries"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_block_entries_kind_value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # a key of BLOCK_KINDS
    value: Mapped[str] = mapped_column(String(18))
    reason: Mapped[str] = mapped_column(String(200), default="")
    actor: Mapped[str] = mapped_column(String(60), default="ops")
    created_at: Mapped[datetime] = created_at_column()
