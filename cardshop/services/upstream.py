"""Status callbacks from upstream (the carrier or distributor that issues the card).

Each callback is signed: HMAC-SHA256 of the raw body with the shared secret, hex, in
``X-Signature``. Each has an ``event_id``: the first delivery is applied (or refused,
when the move is impossible from the order's status) and recorded; any later delivery
of the same id changes nothing and gets the first answer again (I5).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..errors import BadRequest, CardshopError, Conflict, Invalid, NotFound
from ..models import DbSession, Order, UpstreamEvent
from ..stock import StockService
from . import fulfilment

# upstream event -> order status (see target_status for "failed" before opening)
EVENT_STATUS = {
    "submitted": "opening",
    "shipped": "shipped",
    "activated": "activated",
    "recharged": "recharged",
    "failed": "open_failed",
}

LockHolder = Callable[[str], AbstractContextManager[Any]]


class BadSignature(CardshopError):
    code = "bad_signature"
    status = 401
    message = "签名无效"


@dataclass(frozen=True)
class Callback:
    event_id: str
    order_no: str
    event: str
    at: datetime
    reason: str = ""
    courier: str = ""
    tracking_no: str = ""


@dataclass(frozen=True)
class Outcome:
    event_id: str
    order_no: str
    result: str  # applied | duplicate
    status: str


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_signature(body: bytes, signature: str, secret: str) -> None:
    """Constant-time comparison; accepts the hex digest with or without ``sha256=``."""
    given = signature.strip().removeprefix("sha256=").lower()
    if not secret or not hmac.compare_digest(given.encode(), sign(body, secret).encode()):
        raise BadSignature()


def parse(body: bytes) -> Callback:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("请求体不是合法的 JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("请求体须为 JSON 对象")
    fields: dict[str, str] = {}
    event_id, order_no, event = (str(data.get(key) or "").strip() for key in ("event_id", "order_no", "event"))
    if not event_id or len(event_id) > 64 or not event_id.isprintable():
        fields["event_id"] = "须为 1–64 个可见字符"
    if not order_no:
        fields["order_no"] = "缺少订单号"
    if event not in EVENT_STATUS:
        fields["event"] = "须为 " + " / ".join(EVENT_STATUS)
    at = _parse_at(data.get("at"), fields)
    text = {key: str(data.get(key) or "").strip() for key in ("reason", "courier", "tracking_no")}
    if event == "shipped" and not (text["courier"] and text["tracking_no"]):
        fields["tracking_no"] = "发货事件须带快递公司和运单号"
    if event == "failed" and not text["reason"]:
        fields["reason"] = "失败事件须带原因"
    if fields:
        raise Invalid(fields=fields)
    return Callback(event_id, order_no, event, at, text["reason"][:200], text["courier"][:40], text["tracking_no"][:60])


def _parse_at(raw: Any, fields: dict[str, str]) -> datetime:
    if raw in (None, ""):
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(str(raw))
    except ValueError:
        fields["at"] = "须为 ISO 8601 时间"
        return datetime.now(UTC)
    if at.tzinfo is None:
        fields["at"] = "须带时区"
        return datetime.now(UTC)
    return min(at.astimezone(UTC), datetime.now(UTC))  # a clock ahead of ours cannot post-date


def receive(session: DbSession, stock: StockService, hold: LockHolder, callback: Callback) -> Outcome:
    """Apply one callback exactly once. Raises Conflict (recorded) for an impossible move."""
    order = session.scalars(select(Order).where(Order.order_no == callback.order_no)).one_or_none()
    if order is None:
        raise NotFound("没有该订单")
    with hold(f"order:{order.order_no}"):  # one callback per order at a time
        session.expire_all()
        earlier = session.scalars(select(UpstreamEvent).where(UpstreamEvent.event_id == callback.event_id)).first()
        if earlier is not None:
            return _replay(earlier, order)
        order = session.get(Order, order.id) or order
        target = target_status(callback.event, order.status)
        outcome = "applied" if fulfilment.can_move(order.status, target) else "refused"
        session.add(
            UpstreamEvent(
                event_id=callback.event_id,
                order_id=order.id,
                event=callback.event,
                outcome=outcome,
                detail=callback.reason or callback.tracking_no,
                happened_at=callback.at,
            )
        )
        return _apply(session, stock, order, target, callback)


def _apply(session: DbSession, stock: StockService, order: Order, target: str, callback: Callback) -> Outcome:
    """Move the order; transition() commits the pending event record with the move (or
    with the refusal, then raises Conflict)."""
    try:
        fulfilment.transition(
            session,
            stock,
            order,
            target,
            reason=callback.reason,
            source="upstream",
            courier=callback.courier,
            tracking_no=callback.tracking_no,
            at=callback.at,
        )
    except IntegrityError:
        # The same event_id committed first elsewhere (our order lock had expired):
        # the unique event_id kept this delivery from applying twice.
        session.rollback()
        first = session.scalars(select(UpstreamEvent).where(UpstreamEvent.event_id == callback.event_id)).first()
        if first is None:
            raise
        return _replay(first, order)
    return Outcome(callback.event_id, order.order_no, "applied", order.status)


def target_status(event: str, current: str) -> str:
    """Where an event moves an order: a failure before opening is a failed review (审核失败)."""
    if event == "failed" and current == "submitted":
        return "rejected"
    return EVENT_STATUS[event]


def _replay(earlier: UpstreamEvent, order: Order) -> Outcome:
    if earlier.outcome == "refused":
        raise Conflict(f"事件 {earlier.event_id} 此前已被拒绝：不允许的状态变更")
    return Outcome(earlier.event_id, order.order_no, "duplicate", order.status)
