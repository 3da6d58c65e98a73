"""How an order moves: 已提交 → 开卡中 → 已发货 → 已激活 → 已首充 → 已结算, or ends in
审核失败 / 开卡失败 / 已取消 with a reason the customer and agent can read.

Every transition, applied or refused, is recorded as an OrderEvent. An order that
dies gives its stock back and frees its phone number.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from ..errors import Conflict
from ..models import DEAD_STATUSES, STATUSES, DbSession, Order, OrderEvent, PhoneNumber, Product
from ..stock import StockService

# status -> the statuses it may move to next.
TRANSITIONS: dict[str, frozenset[str]] = {
    "submitted": frozenset({"opening", "rejected", "cancelled"}),
    "opening": frozenset({"shipped", "open_failed", "cancelled"}),
    "shipped": frozenset({"activated", "open_failed", "cancelled"}),
    "activated": frozenset({"recharged", "cancelled"}),
    "recharged": frozenset({"settled", "cancelled"}),
    "settled": frozenset(),
    "rejected": frozenset(),
    "open_failed": frozenset(),
    "cancelled": frozenset(),
}

# Called after a transition is applied, inside the same transaction (commissions
# follow order status this way). Each takes (session, order, previous_status).
StatusListener = Callable[[DbSession, Order, str], None]
listeners: list[StatusListener] = []


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def transition(
    session: DbSession,
    stock: StockService,
    order: Order,
    target: str,
    *,
    reason: str = "",
    source: str = "system",
    courier: str = "",
    tracking_no: str = "",
    at: datetime | None = None,
) -> OrderEvent:
    """Move ``order`` to ``target`` and commit; an impossible move is recorded, then refused
    with Conflict. A move into a dead status gives the stock back and frees the number."""
    if target not in STATUSES:
        raise Conflict(f"未知的订单状态 {target}")
    at = at or datetime.now(UTC)
    previous = order.status
    if not can_move(previous, target):
        session.add(
            OrderEvent(
                order_id=order.id,
                from_status=previous,
                to_status=target,
                source=source,
                reason=reason or "不允许的状态变更",
                accepted=False,
                created_at=at,
            )
        )
        session.commit()
        raise Conflict(f"订单当前为「{STATUSES[previous]}」，不能变为「{STATUSES[target]}」")

    def apply(session: DbSession, _product: Product | None = None) -> None:
        order.status = target
        order.status_reason = reason
        if courier:
            order.courier = courier
        if tracking_no:
            order.tracking_no = tracking_no
        if target == "activated":
            order.activated_at = at
        if target in DEAD_STATUSES and order.msisdn:
            order.number_claim = None
            number = session.query(PhoneNumber).filter_by(msisdn=order.msisdn, order_id=order.id).one_or_none()
            if number is not None:
                number.status, number.order_id = "free", None
        session.add(
            OrderEvent(
                order_id=order.id, from_status=previous, to_status=target, reason=reason, source=source, created_at=at
            )
        )
        for listener in listeners:
            listener(session, order, previous)

    if target in DEAD_STATUSES:
        stock.release(
            order.product.sku,
            order.qty,
            apply,
            actor=source,
            order_id=order.id,
            note=f"order {order.order_no} {target}",
        )
    else:
        apply(session)
        session.commit()
    return _last_event(session, order)


def _last_event(session: DbSession, order: Order) -> OrderEvent:
    session.refresh(order)
    return order.events[-1]
