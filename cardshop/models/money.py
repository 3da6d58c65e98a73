"""Agents' money: wallets, commission lines, the append-only ledger, withdrawals.

All amounts are integer fen. A wallet holds one balance per bucket; every change to a
bucket is one LedgerEntry carrying the balance before and after, so the ledger can be
replayed to the wallet at any time.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, created_at_column, utcnow

# bucket -> label. Money moves pending -> frozen -> settled -> withdrawing -> withdrawn.
BUCKETS = {
    "pending": "待结算",
    "frozen": "冻结中",
    "settled": "可提现",
    "withdrawing": "提现中",
    "withdrawn": "已提现",
    "points": "积分",
}

# CommissionLine.role -> label.
ROLES = {"direct": "直销佣金", "differential": "级差佣金", "peer": "平级奖励"}

# CommissionLine.state -> label.
LINE_STATES = {"pending": "待结算", "frozen": "冻结中", "settled": "已结算", "void": "已作废"}

# LedgerEntry.kind -> label.
ENTRY_KINDS = {
    "accrue": "佣金入账",
    "freeze": "激活首充，冻结待结算",
    "settle": "结算到可提现",
    "void": "订单失败，佣金作废",
    "points": "积分",
    "withdraw": "申请提现",
    "withdraw_reject": "提现驳回，退回余额",
    "withdraw_paid": "提现已打款",
}

# Withdrawal.status -> label.
WITHDRAWAL_STATUSES = {"requested": "审核中", "approved": "已通过，待打款", "paid": "已打款", "rejected": "已驳回"}


class Wallet(Base):
    """One agent's balances. Each bucket is guarded never to go below zero (I6)."""

    __tablename__ = "wallets"
    __table_args__ = tuple(CheckConstraint(f"{bucket} >= 0", name=f"{bucket}_not_negative") for bucket in BUCKETS)  # type: ignore[assignment]

    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), primary_key=True)
    pending: Mapped[int] = mapped_column(default=0)
    frozen: Mapped[int] = mapped_column(default=0)
    settled: Mapped[int] = mapped_column(default=0)
    withdrawing: Mapped[int] = mapped_column(default=0)
    withdrawn: Mapped[int] = mapped_column(default=0)
    points: Mapped[int] = mapped_column(default=0)
    # When the last withdrawal not rejected was requested: the interval rule is guarded
    # in the same UPDATE that takes the money.
    last_withdrawal_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def balance(self, bucket: str) -> int:
        return int(getattr(self, bucket))


class CommissionLine(Base):
    """What one agent earns from one order, fixed when the order is placed.

    The level and the amount already paid below are snapshotted here, so later moves
    in the team never change what an order pays. One line per (order, agent): nobody
    is paid twice for one order (I5)."""

    __tablename__ = "commission_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "agent_id", name="uq_commission_lines_order_agent"),
        CheckConstraint("amount_fen >= 0", name="amount_not_negative"),
        CheckConstraint("points >= 0", name="points_not_negative"),
        # An agent's lines newest first; with state and amount, the dashboard's monthly
        # totals are summed from the index alone.
        Index("ix_commission_lines_agent_created_amount", "agent_id", "created_at", "state", "amount_fen"),
        Index("ix_commission_lines_state_settle", "state", "settle_on"),
        # One agent's frozen money by settlement date (the dashboard), summed from the index.
        Index("ix_commission_lines_agent_state_settle_amount", "agent_id", "state", "settle_on", "amount_fen"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    seller_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    role: Mapped[str] = mapped_column(String(12))
    depth: Mapped[int] = mapped_column(default=0)  # 0 = the seller, 1 = their upline, ...
    level: Mapped[int] = mapped_column(default=0)  # the agent's level when the order was placed
    level_amount_fen: Mapped[int] = mapped_column(default=0)  # the product's amount at that level
    paid_below_fen: Mapped[int] = mapped_column(default=0)  # the highest amount already paid below
    amount_fen: Mapped[int] = mapped_column(default=0)
    points: Mapped[int] = mapped_column(default=0)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    settle_on: Mapped[date | None] = mapped_column(Date())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def role_label(self) -> str:
        return ROLES.get(self.role, self.role)

    @property
    def state_label(self) -> str:
        return LINE_STATES.get(self.state, self.state)


class LedgerEntry(Base):
    """One change to one bucket of one wallet. Rows are only ever added."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_agent_id", "agent_id", "id"),
        Index("ix_ledger_entries_agent_bucket", "agent_id", "bucket", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    kind: Mapped[str] = mapped_column(String(16))
    bucket: Mapped[str] = mapped_column(String(12))
    delta: Mapped[int]
    balance_before: Mapped[int]
    balance_after: Mapped[int]
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("commission_lines.id"))
    withdrawal_id: Mapped[int | None] = mapped_column(ForeignKey("withdrawals.id"))
    note: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = created_at_column()

    @property
    def kind_label(self) -> str:
        return ENTRY_KINDS.get(self.kind, self.kind)

    @property
    def bucket_label(self) -> str:
        return BUCKETS.get(self.bucket, self.bucket)


@event.listens_for(LedgerEntry, "before_update")
@event.listens_for(LedgerEntry, "before_delete")
def _ledger_is_append_only(_mapper: Any, _connection: Any, target: LedgerEntry) -> None:
    raise RuntimeError(f"ledger entry {target.id} is append-only")


class Withdrawal(Base):
    """A request to pay out settled money (提现). Its amount left the settled bucket
    when it was requested; rejection returns it, payment moves it to withdrawn."""

    __tablename__ = "withdrawals"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("fee_fen >= 0 AND fee_fen <= amount_fen", name="fee_in_range"),
        Index("ix_withdrawals_agent_created", "agent_id", "created_at"),
        Index("ix_withdrawals_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    amount_fen: Mapped[int]
    fee_fen: Mapped[int]
    net_fen: Mapped[int]
    payout_method: Mapped[str] = mapped_column(String(12))  # alipay | bank
    payout_account: Mapped[str] = mapped_column(String(40))
    payout_name: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12), default="requested")
    reason: Mapped[str] = mapped_column(String(200), default="")
    reference: Mapped[str] = mapped_column(String(80), default="")  # the payment's transfer number
    operator: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = created_at_column()
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def status_label(self) -> str:
        return WITHDRAWAL_STATUSES.get(self.status, self.status)


class UpstreamEvent(Base):
    """A status callback from upstream, kept once per event_id (I5), applied or refused."""

    __tablename__ = "upstream_events"
    __table_args__ = (Index("ix_upstream_events_order", "order_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    event: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(10))  # applied | refused
    detail: Mapped[str] = mapped_column(String(200), default="")
    happened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
