"""Commissions (佣金): who earns what from one order, and how that money moves.

The rules (DESIGN.md, "Catalogue, orders and money"):

- Each product has an amount per level. The selling agent earns its level's amount (直销).
- Walking up the referral chain, each upline whose level amount exceeds everything
  already paid below earns the difference (级差).
- An upline of the same level as the one who last earned gets no difference (平级):
  the first such upline per level earns a peer reward instead — PEER_REWARD_POINTS
  points (积分) and PEER_REWARD_FEN fen, the money only out of what the differences
  left under the product's top amount, so an order never pays more than that.
- The chain and every level are snapshotted on the order's lines when it is placed.

Worked example: the demo plan 移动花夏卡 pays 60 / 80 / 95 / 110 yuan at
普通代理 / 黑钻 / 金钻 / 商务. Chain, from the seller up: D 普通 → C 黑钻 → B 金钻 → A 商务.

====  ======  ============  ====================  ========
who   level   level amount  already paid below    earns
====  ======  ============  ====================  ========
D     普通    60            —                     60 直销
C     黑钻    80            60                    20 级差
B     金钻    95            80                    15 级差
A     商务    110           95                    15 级差
====  ======  ============  ====================  ========

Sixty + 20 + 15 + 15 = 110, the top amount. Had C been 普通 like D, C would have
earned no money but 1 point (平级奖励), and B would have earned 95 − 60 = 35.

Lifecycle: pending when the order is placed (in the sale's own transaction), frozen
once the card is activated and first-recharged (with its settlement date: the end of
the month SETTLE_AFTER_MONTHS after activation, Asia/Shanghai), settled on that date
by ``flask cardshop settle``, void if the order fails or the card is stopped first.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from ..models import Agent, CommissionLine, DbSession, Order, OrderEvent
from ..stock import StockService
from . import fulfilment, levels
from .wallets import Move, ensure_wallets, move, transfer

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_CHAIN = 64  # a deeper chain is a data error; stop rather than loop


@dataclass(frozen=True)
class Rules:
    peer_points: int = 1
    peer_fen: int = 0
    settle_after_months: int = 1
    level_thresholds: tuple[int, ...] = (50, 1000, 4000)


active_rules = Rules()


def configure(config: Mapping[str, Any]) -> None:
    """Take the rules from the app's configuration (called by the app factory)."""
    global active_rules  # noqa: PLW0603 - one process serves one configuration
    active_rules = Rules(
        peer_points=int(config["PEER_REWARD_POINTS"]),
        peer_fen=int(config["PEER_REWARD_FEN"]),
        settle_after_months=int(config.get("SETTLE_AFTER_MONTHS", 1)),
        level_thresholds=tuple(config["LEVEL_THRESHOLDS"]),
    )


@dataclass(frozen=True)
class Link:
    """One agent of the chain as it was when the order was placed."""

    agent_id: int
    level: int


@dataclass(frozen=True)
class Share:
    agent_id: int
    role: str  # direct | differential | peer
    depth: int
    level: int
    level_amount: int
    paid_below: int
    amount: int
    points: int


def amount_at(amounts: Sequence[int], level: int) -> int:
    return int(amounts[level]) if 0 <= level < len(amounts) else 0


def plan_shares(
    amounts: Sequence[int], chain: Sequence[Link], *, qty: int = 1, rules: Rules | None = None
) -> list[Share]:
    """Who earns what from one order. ``chain[0]`` is the seller, then each upline.

    Pure: the same chain, amounts and rules always give the same shares."""
    rules = rules or active_rules
    shares: list[Share] = []
    paid = 0
    paid_level = -1
    peer_levels: set[int] = set()
    for depth, link in enumerate(chain):
        level_amount = amount_at(amounts, link.level) * qty
        if depth == 0 or level_amount > paid:
            role = "direct" if depth == 0 else "differential"
            shares.append(Share(link.agent_id, role, depth, link.level, level_amount, paid, level_amount - paid, 0))
            paid, paid_level = max(paid, level_amount), link.level
        elif link.level == paid_level and link.level not in peer_levels:
            peer_levels.add(link.level)
            shares.append(Share(link.agent_id, "peer", depth, link.level, level_amount, paid, 0, rules.peer_points))
    return _pay_peers(shares, max(amounts, default=0) * qty, rules)


def _pay_peers(shares: list[Share], top: int, rules: Rules) -> list[Share]:
    """Give peers their money from what the other shares left under ``top``."""
    left = top - sum(share.amount for share in shares)
    paid: list[Share] = []
    for share in shares:
        if share.role == "peer" and rules.peer_fen > 0 and left > 0:
            money = min(rules.peer_fen, left)
            left -= money
            paid.append(replace(share, amount=money))
        elif share.amount > 0 or share.points > 0:
            paid.append(share)
    return paid


def snapshot_chain(session: DbSession, seller: Agent) -> list[Link]:
    """The seller and their uplines with their levels now; inactive uplines are passed over."""
    chain = [Link(seller.id, seller.level)]
    seen = {seller.id}
    upline_id = seller.upline_id
    while upline_id is not None and upline_id not in seen and len(seen) < MAX_CHAIN:
        seen.add(upline_id)
        upline = session.get(Agent, upline_id)
        if upline is None:
            break
        if upline.active:
            chain.append(Link(upline.id, upline.level))
        upline_id = upline.upline_id
    return chain


def accrue(session: DbSession, order: Order, *, rules: Rules | None = None) -> list[CommissionLine]:
    """Write the order's commission lines as pending (called inside the sale's transaction)."""
    if order.agent_id is None:
        return []
    seller = session.get(Agent, order.agent_id)
    if seller is None:
        return []
    amounts = list(order.product.commission_fen or [])
    shares = plan_shares(amounts, snapshot_chain(session, seller), qty=order.qty, rules=rules)
    lines = [
        CommissionLine(
            order_id=order.id,
            agent_id=share.agent_id,
            seller_id=seller.id,
            role=share.role,
            depth=share.depth,
            level=share.level,
            level_amount_fen=share.level_amount,
            paid_below_fen=share.paid_below,
            amount_fen=share.amount,
            points=share.points,
            state="pending",
        )
        for share in shares
    ]
    session.add_all(lines)
    session.flush()
    ensure_wallets(session, [line.agent_id for line in lines])
    for line in sorted(lines, key=lambda line: line.agent_id):
        move(session, line.agent_id, "pending", line.amount_fen, cause=_cause("accrue", line))
    return lines


def _cause(kind: str, line: CommissionLine) -> Move:
    return Move(kind, order_id=line.order_id, line_id=line.id, note=line.role_label)


def settle_date(activated_at: datetime, months_after: int | None = None) -> date:
    """The last day of the month ``months_after`` months after activation, in Shanghai."""
    months_after = active_rules.settle_after_months if months_after is None else months_after
    local = activated_at.astimezone(SHANGHAI)
    index = local.year * 12 + local.month - 1 + months_after
    year, month = divmod(index, 12)
    return date(year, month + 1, calendar.monthrange(year, month + 1)[1])


def _claim_lines(session: DbSession, order: Order, source: tuple[str, ...], target: str) -> list[CommissionLine]:
    """Move the order's lines from ``source`` states to ``target``; returns those this call moved.

    The state change is a conditional UPDATE, so a line moves once even if two
    transactions race for it (I5)."""
    lines = list(
        session.scalars(
            select(CommissionLine)
            .where(CommissionLine.order_id == order.id, CommissionLine.state.in_(source))
            .order_by(CommissionLine.agent_id)
        )
    )
    claimed = []
    for line in lines:
        result = session.execute(
            update(CommissionLine)
            .where(CommissionLine.id == line.id, CommissionLine.state == line.state)
            .values(state=target, updated_at=datetime.now(UTC))
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(line)
    return claimed


def freeze(session: DbSession, order: Order, activated_at: datetime) -> None:
    """Activated and first-recharged: pending money becomes frozen until its settlement date."""
    settle_on = settle_date(activated_at)
    for line in _claim_lines(session, order, ("pending",), "frozen"):
        session.execute(
            update(CommissionLine)
            .where(CommissionLine.id == line.id)
            .values(settle_on=settle_on)
            .execution_options(synchronize_session=False)
        )
        cause = _cause("freeze", line)
        transfer(session, line.agent_id, "pending", "frozen", amount=line.amount_fen, cause=cause)
        points = Move("points", order.id, line.id, note="平级奖励积分")
        move(session, line.agent_id, "points", line.points, cause=points)


def void(session: DbSession, order: Order) -> None:
    """The order failed or the card stopped before settlement: its commission is void."""
    for line in _claim_lines(session, order, ("pending", "frozen"), "void"):
        move(session, line.agent_id, line.state, -line.amount_fen, cause=_cause("void", line))
        if line.state == "frozen":
            points = Move("points", order.id, line.id, note="积分撤回")
            move(session, line.agent_id, "points", -line.points, cause=points)


def settle(session: DbSession, order: Order) -> None:
    """The settlement date came: frozen money becomes withdrawable."""
    for line in _claim_lines(session, order, ("frozen",), "settled"):
        transfer(session, line.agent_id, "frozen", "settled", amount=line.amount_fen, cause=_cause("settle", line))


def activated_at(session: DbSession, order: Order) -> datetime:
    """When upstream reported the card activated (the order's accepted 已激活 event)."""
    found = session.scalars(
        select(OrderEvent.created_at)
        .where(OrderEvent.order_id == order.id, OrderEvent.to_status == "activated", OrderEvent.accepted.is_(True))
        .order_by(OrderEvent.id.desc())
        .limit(1)
    ).first()
    return found or datetime.now(UTC)


def follow_order_status(session: DbSession, order: Order, previous: str) -> None:
    """fulfilment listener: commissions and levels follow the order's status."""
    if order.status == "activated" and order.agent_id is not None:
        levels.rise_on_activation(session, order.agent_id, activated_at(session, order), active_rules.level_thresholds)
    elif order.status == "recharged":
        freeze(session, order, activated_at(session, order))
    elif order.status == "settled":
        settle(session, order)
    elif not order.live:
        void(session, order)


def due_orders(session: DbSession, today: date) -> list[Order]:
    """Orders whose frozen commission reaches its settlement date on or before ``today``."""
    order_ids = select(CommissionLine.order_id).where(
        CommissionLine.state == "frozen", CommissionLine.settle_on <= today
    )
    return list(
        session.scalars(select(Order).where(Order.id.in_(order_ids), Order.status == "recharged").order_by(Order.id))
    )


def settle_due(session: DbSession, stock: StockService, today: date | None = None) -> list[Order]:
    """Move every due order to 已结算 (its lines settle through the listener); returns them."""
    today = today or datetime.now(SHANGHAI).date()
    settled = []
    for order in due_orders(session, today):
        fulfilment.transition(session, stock, order, "settled", source="settle", reason="结算日已到")
        settled.append(order)
    return settled


if follow_order_status not in fulfilment.listeners:
    fulfilment.listeners.append(follow_order_status)
