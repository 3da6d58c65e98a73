"""Risk rules at ordering (风控), checked before any stock is touched.

- the blocklist: ID numbers and phones operators have blocked (``cardshop block``);
- one order per ID number per carrier within the window (default 30 days);
- at most five live numbers per ID number per carrier (一证五户, the MIIT rule).

The product's own limits (buyer age, regions it does not ship to) are checked with
the input in :func:`order_input.check_against_product`.

Two orders for the same person at once could both pass a count; :func:`identity_guard`
holds a short Redlock per (carrier, ID number) around the check and the sale, so the
second one sees the first.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pottery import QuorumIsImpossible, QuorumNotAchieved, ReleaseUnlockedLock
from sqlalchemy import func, select

from ..errors import RiskRefused
from ..models import BLOCK_KINDS, CARRIERS, DEAD_STATUSES, BlockEntry, DbSession, Order
from ..stock import LockManager
from ..validation import normalize_id_card
from .order_input import OrderInput


@dataclass(frozen=True)
class RiskRules:
    window_days: int = 30
    max_live_per_carrier: int = 5

    @classmethod
    def from_config(cls, config: Any) -> RiskRules:
        return cls(config["RISK_WINDOW_DAYS"], config["RISK_MAX_LIVE_PER_CARRIER"])


def check(session: DbSession, order: OrderInput, carrier_code: str, now: datetime, rules: RiskRules) -> None:
    """Raise RiskRefused, with the rule's message on the field it is about, or return."""
    blocked = blocked_fields(session, order.id_card, order.phone)
    if blocked:
        raise RiskRefused("该订单未通过风控审核，如有疑问请联系客服", fields=blocked)
    carrier = CARRIERS.get(carrier_code, carrier_code)
    live = [Order.id_card == order.id_card, Order.carrier == carrier_code, Order.status.not_in(DEAD_STATUSES)]
    recent = session.scalar(
        select(func.count(Order.id)).where(*live, Order.created_at >= now - timedelta(days=rules.window_days))
    )
    if recent:
        message = f"同一身份证号{rules.window_days}天内只能办理1张{carrier}号卡，请勿重复下单"
        raise RiskRefused(message, fields={"customer.id_card": message})
    numbers = session.scalar(select(func.coalesce(func.sum(Order.qty), 0)).where(*live)) or 0
    if numbers + order.qty > rules.max_live_per_carrier:
        message = (
            f"根据“一证五户”规定，同一身份证号在{carrier}最多办理{rules.max_live_per_carrier}个号码，"
            f"您已有{numbers}个，无法继续办理"
        )
        raise RiskRefused(message, fields={"customer.id_card": message})


def blocked_fields(session: DbSession, id_card: str, phone: str) -> dict[str, str]:
    entries = session.scalars(
        select(BlockEntry).where(
            ((BlockEntry.kind == "id_card") & (BlockEntry.value == normalize_id_card(id_card)))
            | ((BlockEntry.kind == "phone") & (BlockEntry.value == phone.strip()))
        )
    ).all()
    fields = {}
    for entry in entries:
        if entry.kind == "id_card":
            fields["customer.id_card"] = "该身份证号暂不能办理，如有疑问请联系客服"
        else:
            fields["customer.phone"] = "该手机号暂不能下单，如有疑问请联系客服"
    return fields


@contextlib.contextmanager
def identity_guard(locks: LockManager, id_card: str, carrier: str) -> Iterator[None]:
    """Serialise orders of one person with one carrier for the check and the sale.

    Raises Busy when the lock is not won in time, StockUnavailable without a quorum."""
    digest = hashlib.sha256(normalize_id_card(id_card).encode()).hexdigest()[:24]
    lock = locks.acquire(f"risk:{carrier}:{digest}")
    try:
        yield
    finally:
        with contextlib.suppress(ReleaseUnlockedLock, QuorumIsImpossible, QuorumNotAchieved):
            lock.release()


# ------------------------------------------------------------------ blocklist


def normalize_block_value(kind: str, value: str) -> str:
    if kind not in BLOCK_KINDS:
        raise ValueError(f"kind must be one of {', '.join(BLOCK_KINDS)}")
    return normalize_id_card(value) if kind == "id_card" else value.strip()


def block(session: DbSession, kind: str, value: str, reason: str, actor: str = "ops") -> tuple[BlockEntry, bool]:
    """Add an entry (or update its reason); returns (entry, created)."""
    value = normalize_block_value(kind, value)
    entry = session.scalars(select(BlockEntry).where(BlockEntry.kind == kind, BlockEntry.value == value)).one_or_none()
    created = entry is None
    if entry is None:
        entry = BlockEntry(kind=kind, value=value, reason=reason, actor=actor)
        session.add(entry)
    else:
        entry.reason, entry.actor = reason, actor
    session.commit()
    return entry, created


def unblock(session: DbSession, kind: str, value: str) -> bool:
    value = normalize_block_value(kind, value)
    entry = session.scalars(select(BlockEntry).where(BlockEntry.kind == kind, BlockEntry.value == value)).one_or_none()
    if entry is None:
        return False
    session.delete(entry)
    session.commit()
    return True


def blocklist(session: DbSession, kind: str | None = None) -> list[BlockEntry]:
    query = select(BlockEntry).order_by(BlockEntry.kind, BlockEntry.id)
    if kind:
        query = query.where(BlockEntry.kind == kind)
    return list(session.scalars(query))
