"""What an agent's pages show: only that agent's orders, team and money (I7).

Every query here is scoped by the agent id the caller passes; nothing takes an
order or entry id without also checking whose it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import aliased, lazyload

from ..errors import Invalid, NotFound
from ..models import (
    BUCKETS,
    ENTRY_KINDS,
    STATUSES,
    Agent,
    CommissionLine,
    DbSession,
    LedgerEntry,
    Order,
    Product,
    Withdrawal,
)
from . import levels

SHANGHAI = ZoneInfo("Asia/Shanghai")
PER_PAGE = 20
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    pages: int
    total: int


def paginate(session: DbSession, query: Select[Any], page: int, per_page: int = PER_PAGE) -> Page[Any]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    items = list(session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return Page(items, page, pages, total)


def parse_month(raw: str) -> date | None:
    """ "2026-11" -> 2026-11-01; empty -> None; anything else is refused."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        return datetime.strptime(raw, "%Y-%m").date()
    except ValueError:
        raise Invalid(fields={"month": "月份格式应为 2026-01"}) from None


def today() -> date:
    return datetime.now(SHANGHAI).date()


# --- orders ---------------------------------------------------------------------------


def orders(
    session: DbSession, agent_id: int, *, status: str = "", month: date | None = None, page: int = 1
) -> Page[Order]:
    # The list shows no timelines: do not load twenty of them with every page.
    query = select(Order).where(Order.agent_id == agent_id).options(lazyload(Order.events))
    if status:
        if status not in STATUSES:
            raise Invalid(fields={"status": "没有该订单状态"})
        query = query.where(Order.status == status)
    if month is not None:
        start, end = levels.month_bounds(month)
        query = query.where(Order.created_at >= start, Order.created_at < end)
    return paginate(session, query.order_by(Order.created_at.desc(), Order.id.desc()), page)


def recent_orders(session: DbSession, agent_id: int, limit: int = 5) -> list[Order]:
    """The agent's newest orders (the dashboard), without counting all of them."""
    query = (
        select(Order)
        .where(Order.agent_id == agent_id)
        .options(lazyload(Order.events))
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def order_of(session: DbSession, agent_id: int, order_no: str) -> Order:
    """One order of this agent's shop; someone else's order is simply not found."""
    order = session.scalars(select(Order).where(Order.order_no == order_no, Order.agent_id == agent_id)).first()
    if order is None:
        raise NotFound("没有找到该订单")
    return order


def my_lines(session: DbSession, agent_id: int, order_ids: list[int]) -> dict[int, CommissionLine]:
    """This agent's commission line on each of these orders (at most one each)."""
    if not order_ids:
        return {}
    rows = session.scalars(
        select(CommissionLine).where(CommissionLine.agent_id == agent_id, CommissionLine.order_id.in_(order_ids))
    )
    return {line.order_id: line for line in rows}


# --- money ----------------------------------------------------------------------------


def frozen_by_date(session: DbSession, agent_id: int) -> list[tuple[date, int]]:
    """Frozen money grouped by its expected settlement date, soonest first."""
    rows = session.execute(
        select(CommissionLine.settle_on, func.sum(CommissionLine.amount_fen))
        .where(CommissionLine.agent_id == agent_id, CommissionLine.state == "frozen")
        .group_by(CommissionLine.settle_on)
        .order_by(CommissionLine.settle_on)
    )
    return [(settle_on, int(total)) for settle_on, total in rows if settle_on is not None and total]


@dataclass(frozen=True)
class MonthTotal:
    month: date
    fen: int


def monthly_commissions(
    session: DbSession, agent_id: int, months: int = 6, *, until: date | None = None
) -> list[MonthTotal]:
    """Commission earned (not void) on orders placed in each of the last ``months`` months."""
    month = levels.month_start(until or today())
    series = []
    for _ in range(months):
        start, end = levels.month_bounds(month)
        total = session.scalar(
            select(func.coalesce(func.sum(CommissionLine.amount_fen), 0)).where(
                CommissionLine.agent_id == agent_id,
                CommissionLine.state != "void",
                CommissionLine.created_at >= start,
                CommissionLine.created_at < end,
            )
        )
        series.append(MonthTotal(month, int(total or 0)))
        month = levels.previous_month(month)
    return list(reversed(series))


def ledger(
    session: DbSession, agent_id: int, *, bucket: str = "", kind: str = "", month: date | None = None, page: int = 1
) -> Page[LedgerEntry]:
    query = select(LedgerEntry).where(LedgerEntry.agent_id == agent_id)
    if bucket:
        if bucket not in BUCKETS:
            raise Invalid(fields={"bucket": "没有该账户"})
        query = query.where(LedgerEntry.bucket == bucket)
    if kind:
        if kind not in ENTRY_KINDS:
            raise Invalid(fields={"kind": "没有该类型"})
        query = query.where(LedgerEntry.kind == kind)
    if month is not None:
        start, end = levels.month_bounds(month)
        query = query.where(LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
    return paginate(session, query.order_by(LedgerEntry.id.desc()), page)


def order_numbers(session: DbSession, order_ids: set[int]) -> dict[int, str]:
    if not order_ids:
        return {}
    rows = session.execute(select(Order.id, Order.order_no).where(Order.id.in_(order_ids)))
    return {order_id: order_no for order_id, order_no in rows}


def withdrawals(session: DbSession, agent_id: int, page: int = 1) -> Page[Withdrawal]:
    query = select(Withdrawal).where(Withdrawal.agent_id == agent_id).order_by(Withdrawal.id.desc())
    return paginate(session, query, page)


# --- team -----------------------------------------------------------------------------


def team_size(session: DbSession, agent_id: int) -> int:
    """Everyone below the agent, at any depth (a recursive query)."""
    below = select(Agent.id).where(Agent.upline_id == agent_id).cte("below", recursive=True)
    child = aliased(Agent)
    below = below.union(select(child.id).join(below, child.upline_id == below.c.id))
    return int(session.scalar(select(func.count()).select_from(below)) or 0)


@dataclass(frozen=True)
class Member:
    agent: Agent
    activations: int
    team_size: int


def direct_team(session: DbSession, agent_id: int, page: int = 1) -> Page[Member]:
    query = select(Agent).where(Agent.upline_id == agent_id).order_by(Agent.created_at.desc(), Agent.id.desc())
    found = paginate(session, query, page)
    counts = levels.activations(session, [agent.id for agent in found.items], today())
    members = [Member(agent, counts[agent.id], team_size(session, agent.id)) for agent in found.items]
    return Page(members, found.page, found.pages, found.total)


# --- products -------------------------------------------------------------------------


def listed_products(session: DbSession) -> list[Product]:
    return list(
        session.scalars(select(Product).where(Product.listed.is_(True)).order_by(Product.sort_order, Product.id))
    )


def now_utc() -> datetime:
    return datetime.now(UTC)
