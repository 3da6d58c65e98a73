"""Risk rules at ordering (风控), checked before any stock is touched.

- the blocklist: ID numbers and phones operators have blocked (``cardshop block``);
- one order per ID number per carrier within the window (default 30 days);
- at most five live numbers per ID number per carrier (一证五户, the MIIT rule).

The product's own limits (buyer age, regions it does not ship to) are checked with
the input in :func:`order_input.check_against_product`.

Two orders for the same person at once could both pass a count, so the rules are
checked by :func:`screen` inside the transaction that writes the orders (see there).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, select, text

from ..errors import RiskRefused
from ..models import BLOCK_KINDS, CARRIERS, DEAD_STATUSES, BlockEntry, DbSession, Order
from ..models.lists import in_list
from ..validation import normalize_id_card


@dataclass(frozen=True)
class RiskRules:
    window_days: int = 30
    max_live_per_carrier: int = 5

    @classmethod
    def from_config(cls, config: Any) -> RiskRules:
        return cls(config["RISK_WINDOW_DAYS"], config["RISK_MAX_LIVE_PER_CARRIER"])


@dataclass(frozen=True)
class Applicant:
    """Who asks for numbers in one order, as the rules see them."""

    id_card: str
    phone: str
    qty: int


# Built once: a batch's lists go in as one parameter each (cardshop/models/lists.py).
_BLOCKED = select(BlockEntry.kind, BlockEntry.value).where(
    ((BlockEntry.kind == "id_card") & in_list(BlockEntry.value, "ids"))
    | ((BlockEntry.kind == "phone") & in_list(BlockEntry.value, "phones"))
)
_COUNTS = (
    select(
        Order.id_card,
        func.count(case((Order.created_at >= bindparam("since"), 1))),
        func.coalesce(func.sum(Order.qty), 0),
    )
    .where(
        in_list(Order.id_card, "ids"),
        Order.carrier == bindparam("carrier"),
        *[Order.status != status for status in sorted(DEAD_STATUSES)],
    )
    .group_by(Order.id_card)
)


def screen(
    session: DbSession, applicants: list[Applicant], carrier_code: str, now: datetime, rules: RiskRules
) -> list[RiskRefused | None]:
    """Each applicant's refusal (or None), in order, as if they had ordered one by one.

    Called inside the sale's transaction, so what it counts cannot change before the
    orders it lets through are written: on SQLite the transaction already holds the
    database's one write lock; on PostgreSQL it first takes a transaction-scoped
    advisory lock per person and carrier, so an order of the same person for another
    plan, sold at the same moment in another batch, waits and then sees this one.
    Two statements for the whole batch, whatever its size."""
    if not applicants:
        return []
    ids = sorted({normalize_id_card(a.id_card) for a in applicants})
    connection = session.connection()  # Core statements: no ORM work for plain rows
    if connection.dialect.name == "postgresql":
        keys = sorted({person_key(carrier_code, id_card) for id_card in ids})
        connection.execute(
            text("SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) s"),
            {"keys": keys},
        )
    phones = sorted({a.phone.strip() for a in applicants})
    blocked = {(kind, value) for kind, value in connection.execute(_BLOCKED, {"ids": ids, "phones": phones})}
    since = now - timedelta(days=rules.window_days)
    recent: dict[str, int] = {}
    live: dict[str, int] = {}
    for id_card, recent_count, live_qty in connection.execute(
        _COUNTS, {"ids": ids, "carrier": carrier_code, "since": since}
    ):
        recent[id_card], live[id_card] = int(recent_count), int(live_qty)
    carrier = CARRIERS.get(carrier_code, carrier_code)
    refusals: list[RiskRefused | None] = []
    for applicant in applicants:
        id_card = normalize_id_card(applicant.id_card)
        refusal = _refusal(
            blocked_fields(blocked, id_card, applicant.phone),
            recent.get(id_card, 0),
            live.get(id_card, 0),
            applicant.qty,
            carrier=carrier,
            rules=rules,
        )
        if refusal is None:  # counted for the applicants after it in the same batch
            recent[id_card] = recent.get(id_card, 0) + 1
            live[id_card] = live.get(id_card, 0) + applicant.qty
        refusals.append(refusal)
    return refusals


def _refusal(
    blocked: dict[str, str], recent: int, live: int, qty: int, *, carrier: str, rules: RiskRules
) -> RiskRefused | None:
    if blocked:
        return RiskRefused("该订单未通过风控审核，如有疑问请联系客服", fields=blocked)
    if recent:
        message = f"同一身份证号{rules.window_days}天内只能办理1张{carrier}号卡，请勿重复下单"
        return RiskRefused(message, fields={"customer.id_card": message})
    if live + qty > rules.max_live_per_carrier:
        message = (
            f"根据“一证五户”规定，同一身份证号在{carrier}最多办理{rules.max_live_per_carrier}个号码，"
            f"您已有{live}个，无法继续办理"
        )
        return RiskRefused(message, fields={"customer.id_card": message})
    return None


def person_key(carrier_code: str, id_card: str) -> int:
    """A signed 64-bit key for one person with one carrier (PostgreSQL advisory locks)."""
    digest = hashlib.sha256(f"cardshop:risk:{carrier_code}:{normalize_id_card(id_card)}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def blocked_fields(blocked: set[tuple[str, str]], id_card: str, phone: str) -> dict[str, str]:
    fields = {}
    if ("id_card", normalize_id_card(id_card)) in blocked:
        fields["customer.id_card"] = "该身份证号暂不能办理，如有疑问请联系客服"
    if ("phone", phone.strip()) in blocked:
        fields["customer.phone"] = "该手机号暂不能下单，如有疑问请联系客服"
    return fields


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
