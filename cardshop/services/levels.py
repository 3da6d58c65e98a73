"""Agent levels: 普通代理 → 黑钻 → 金钻 → 商务 by activations in a calendar month.

An agent rises the moment this month's activations reach a threshold; at the start
of a month ``relevel`` re-evaluates everyone from the month before (a level can then
fall, never below the floor an operator granted). Months are Shanghai calendar months.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from ..models import LEVELS, Agent, DbSession, Order

SHANGHAI = ZoneInfo("Asia/Shanghai")


def month_start(day: date) -> date:
    return day.replace(day=1)


def previous_month(day: date) -> date:
    return month_start(month_start(day) - timedelta(days=1))


def next_month(day: date) -> date:
    return month_start(month_start(day) + timedelta(days=32))


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The UTC instants a Shanghai calendar month starts and ends."""
    start = datetime.combine(month_start(month), datetime.min.time(), SHANGHAI)
    end = datetime.combine(next_month(month), datetime.min.time(), SHANGHAI)
    return start.astimezone(UTC), end.astimezone(UTC)


def level_for(activations: int, thresholds: Sequence[int]) -> int:
    """The level ``activations`` in one month earn: one step per threshold reached."""
    level = 0
    for step, threshold in enumerate(thresholds[: len(LEVELS) - 1], start=1):
        if activations >= threshold:
            level = step
    return level


def next_threshold(level: int, thresholds: Sequence[int]) -> int | None:
    """Activations needed in a month for the level above ``level``; None at the top."""
    return thresholds[level] if level < min(len(thresholds), len(LEVELS) - 1) else None


def activations(session: DbSession, agent_ids: Sequence[int], month: date) -> dict[int, int]:
    """Cards activated in ``month`` per selling agent (an order of two cards counts two)."""
    if not agent_ids:
        return {}
    start, end = month_bounds(month)
    # Order.activated_at is the accepted activation event's time (fulfilment sets both).
    rows = session.execute(
        select(Order.agent_id, func.coalesce(func.sum(Order.qty), 0))
        .where(Order.agent_id.in_(agent_ids), Order.activated_at >= start, Order.activated_at < end)
        .group_by(Order.agent_id)
    )
    counts = {agent_id: 0 for agent_id in agent_ids}
    counts.update({int(agent_id): int(total) for agent_id, total in rows})
    return counts


def rise_on_activation(session: DbSession, agent_id: int, at: datetime, thresholds: Sequence[int]) -> int:
    """Raise the agent at once if this month's activations reach a threshold; returns the level."""
    count = activations(session, [agent_id], at.astimezone(SHANGHAI).date())[agent_id]
    earned = level_for(count, thresholds)
    session.execute(
        update(Agent)
        .where(Agent.id == agent_id, Agent.level < earned)
        .values(level=earned)
        .execution_options(synchronize_session=False)
    )
    return max(earned, session.scalar(select(Agent.level).where(Agent.id == agent_id)) or 0)


@dataclass(frozen=True)
class Change:
    agent_id: int
    phone: str
    before: int
    after: int
    activations: int


def relevel(session: DbSession, today: date, thresholds: Sequence[int], *, dry_run: bool = False) -> list[Change]:
    """Month-start re-evaluation: each agent's level from last month's activations (or
    this month's so far, if higher), never below their floor. Returns the changes."""
    agents = list(session.scalars(select(Agent).order_by(Agent.id)))
    ids = [agent.id for agent in agents]
    last = activations(session, ids, previous_month(today))
    this = activations(session, ids, today)
    changes = []
    for agent in agents:
        earned = max(level_for(last[agent.id], thresholds), level_for(this[agent.id], thresholds), agent.level_floor)
        if earned != agent.level:
            changes.append(Change(agent.id, agent.phone, agent.level, earned, last[agent.id]))
            if not dry_run:
                agent.level = earned
    if dry_run:
        session.rollback()
    else:
        session.commit()
    return changes
