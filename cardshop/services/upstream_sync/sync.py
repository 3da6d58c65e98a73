"""Moving orders to upstream and bringing upstream's statuses back.

Every status change goes through ``fulfilment.transition``, so it is recorded, checked
against the allowed moves, and a dead order gives its stock back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ...errors import Conflict
from ...models import DbSession, Order, UpstreamSubmission
from ...stock import StockService
from .. import fulfilment
from .adapters import UPSTREAM_STATUSES, Adapter, StatusReport, UpstreamError

log = logging.getLogger(__name__)

# The way forward, so a report that skipped a step (activated while we still say
# opening) walks through the steps in between rather than being refused.
FORWARD = ["submitted", "opening", "shipped", "activated", "recharged"]
POLLED = ("opening", "shipped", "activated")


@dataclass
class SyncReport:
    submitted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    moved: dict[str, str] = field(default_factory=dict)
    unchanged: int = 0


def submit_order(
    session: DbSession, stock: StockService, adapter: Adapter, order: Order, *, actor: str = "system"
) -> UpstreamSubmission:
    """Hand one 已提交 order to upstream and move it to 开卡中.

    The submission row is committed before the network call, so a crash mid-call
    leaves it visibly "sending"; sending again is safe, upstream keys by order number.
    Raises Conflict if the order is not waiting, UpstreamError if upstream failed."""
    if order.status != "submitted":
        raise Conflict(f"订单当前为「{order.status_label}」，只有「已提交」的订单可以提交上游")
    submission = session.scalars(select(UpstreamSubmission).where(UpstreamSubmission.order_id == order.id)).first()
    if submission is None:
        submission = UpstreamSubmission(order_id=order.id, adapter=adapter.name, attempts=0)
        session.add(submission)
    submission.adapter, submission.state, submission.actor = adapter.name, "sending", actor
    submission.attempts += 1
    try:
        session.commit()
    except IntegrityError:  # another run (a second host's cron) is submitting it right now
        session.rollback()
        raise Conflict("该订单正在被另一个进程提交上游") from None
    try:
        result = adapter.submit(order)
    except UpstreamError as error:
        submission.state = "refused" if error.permanent else "failed"
        submission.last_error = str(error)[:300]
        session.commit()
        raise
    submission.state, submission.upstream_ref, submission.last_error = "sent", result.ref[:64], ""
    submission.upstream_status = result.status[:20]
    submission.submitted_at = datetime.now(UTC)
    session.commit()
    # No reason: it is shown to the customer, and "being opened" needs none.
    fulfilment.transition(session, stock, order, "opening", source=actor)
    return submission


def submit_pending(session: DbSession, stock: StockService, adapter: Adapter, *, limit: int = 200) -> SyncReport:
    """Submit every 已提交 order not yet taken upstream (including ones whose earlier
    attempt failed on the way, but not ones upstream refused outright)."""
    report = SyncReport()
    refused = select(UpstreamSubmission.order_id).where(UpstreamSubmission.state == "refused")
    orders = session.scalars(
        select(Order).where(Order.status == "submitted", Order.id.not_in(refused)).order_by(Order.id).limit(limit)
    ).all()
    for order in orders:
        try:
            submit_order(session, stock, adapter, order, actor="upstream-sync")
            report.submitted.append(order.order_no)
        except (UpstreamError, Conflict) as error:
            session.rollback()
            report.failed[order.order_no] = str(error)
    return report


def poll_statuses(session: DbSession, stock: StockService, adapter: Adapter, *, limit: int = 500) -> SyncReport:
    """Ask upstream about every order it has that is still on its way, and apply the news."""
    report = SyncReport()
    rows = session.scalars(
        select(UpstreamSubmission)
        .join(Order, Order.id == UpstreamSubmission.order_id)
        .where(UpstreamSubmission.state == "sent", Order.status.in_(POLLED))
        .order_by(UpstreamSubmission.polled_at.is_not(None), UpstreamSubmission.polled_at, UpstreamSubmission.id)
        .limit(limit)
    ).all()
    for submission in rows:
        order = submission.order
        try:
            news = adapter.poll(order)
        except UpstreamError as error:
            report.failed[order.order_no] = str(error)
            continue
        submission.polled_at = datetime.now(UTC)
        if news is not None:
            submission.upstream_status = news.status[:20]
        session.commit()
        if news is None:
            report.unchanged += 1
            continue
        try:
            moved = apply_report(session, stock, order, news, source="upstream")
        except Conflict as error:
            session.rollback()
            report.failed[order.order_no] = error.message
            continue
        if moved:
            report.moved[order.order_no] = order.status
        else:
            report.unchanged += 1
    return report


def target_for(order: Order, upstream_status: str) -> str | None:
    target = UPSTREAM_STATUSES.get(upstream_status.strip().lower())
    if target == "open_failed" and order.status == "submitted":
        return "rejected"
    return target


def apply_report(session: DbSession, stock: StockService, order: Order, news: StatusReport, *, source: str) -> bool:
    """Bring ``order`` to what upstream reports; True if it moved. Steps it skipped are
    walked through; a report behind what we know already changes nothing."""
    target = target_for(order, news.status)
    if target is None:
        raise Conflict(f"上游状态无法识别：{news.status}")
    if target == order.status:
        return False
    if target in FORWARD and order.status in FORWARD:
        if FORWARD.index(target) < FORWARD.index(order.status):
            return False  # old news
        for step in FORWARD[FORWARD.index(order.status) + 1 : FORWARD.index(target) + 1]:
            fulfilment.transition(
                session,
                stock,
                order,
                step,
                source=source,
                courier=news.courier if step == "shipped" else "",
                tracking_no=news.tracking_no if step == "shipped" else "",
            )
        return True
    fulfilment.transition(session, stock, order, target, source=source, reason=news.reason or "上游处理失败")
    return True
