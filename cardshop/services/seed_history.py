"""Order histories for the large seed: each order's status timeline, the commission lines
it pays, and the ledger entries those lines move, written in bulk.

An order is walked through the same states fulfilment would move it through, with
realistic delays, and stops where "now" cuts its story off; so old orders are mostly
settled or failed, recent ones are still being opened or shipped. Ledger entries are
emitted in time order across all orders (future money moves kept by day), so each
bucket's balance_before/after chains exactly as live traffic would have written it.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any, NamedTuple

from ..models import DEAD_STATUSES as DEAD
from ..models import ROLES, CommissionLine, LedgerEntry, Order, OrderEvent, PhoneNumber
from . import commissions
from .bulk_insert import BulkWriter, table
from .commissions import Link, Share

# Times here are naive UTC datetimes: millions of them are compared and formatted, and
# naive ones are several times cheaper. Shanghai has kept UTC+8 without DST since 1991.
SHANGHAI_OFFSET = timedelta(hours=8)
COURIERS = (("顺丰速运", "SF"), ("中国邮政EMS", "EM"), ("京东物流", "JD"))
REJECT_REASONS = ("身份证信息核验未通过", "收货地址不完整", "同一证件近期已办理")
OPEN_FAILED_REASONS = ("号码资源不足", "实名信息与证件不符", "收货地区暂不支持配送")
CANCEL_REASONS = ("客户申请取消", "客户联系不上，订单取消", "重复下单")


class Step(NamedTuple):
    status: str
    at: datetime
    reason: str = ""
    source: str = "upstream"


def timeline(created: datetime, rng: random.Random, now: datetime) -> list[Step]:
    """The order's accepted transitions, oldest first, cut off at ``now``."""
    fate = rng.random()
    steps = [Step("submitted", created, source="customer")]
    at = created + timedelta(minutes=rng.uniform(10, 48 * 60))
    if fate < 0.07:
        return _until(steps, [Step("rejected", at, rng.choice(REJECT_REASONS))], now)
    if fate < 0.12:
        return _until(steps, [Step("cancelled", at, rng.choice(CANCEL_REASONS), "ops")], now)
    following = [Step("opening", at)]
    at += timedelta(hours=rng.uniform(4, 48))
    if fate < 0.17:
        return _until(steps, [*following, Step("open_failed", at, rng.choice(OPEN_FAILED_REASONS))], now)
    following.append(Step("shipped", at))
    if fate < 0.27:  # delivered, never activated
        return _until(steps, following, now)
    activated = at + timedelta(days=rng.uniform(1, 7))
    following.append(Step("activated", activated))
    if fate < 0.35:  # activated, never first-recharged
        return _until(steps, following, now)
    following.append(Step("recharged", activated + timedelta(hours=rng.uniform(1, 72))))
    settle_on = commissions.settle_date(activated.replace(tzinfo=UTC))
    settled_at = datetime.combine(settle_on, time(2, 0)) - SHANGHAI_OFFSET  # the 02:00 settle run
    following.append(Step("settled", settled_at, "结算日已到", "settle"))
    return _until(steps, following, now)


def _until(steps: list[Step], following: list[Step], now: datetime) -> list[Step]:
    for step in following:
        if step.at > now:
            break
        steps.append(step)
    return steps


def line_state(status: str, at: dict[str, datetime]) -> str:
    """Where the commission listener would have left an order's lines."""
    if status in DEAD:
        return "void"
    if "settled" in at:
        return "settled"
    return "frozen" if "recharged" in at else "pending"


class OrderSpec(NamedTuple):
    created: datetime
    customer: Any  # seed_people.Customer
    agent_id: int | None
    product: Any  # a Product (read only)
    qty: int


# A money move waiting in the heap: (at, seq, agent_id, bucket, delta, kind, order_id,
# line_id, note). A plain tuple: the heap compares millions of them.
_Move = tuple[datetime, int, int, str, int, str, int, int, str]


ORDER_COLUMNS = (
    "id", "order_no", "idempotency_key", "request_fingerprint", "product_id", "carrier", "qty", "price_fen",
    "msisdn", "number_claim", "customer_name", "id_card", "customer_phone", "province", "city", "district",
    "address_detail", "agent_id", "shop_code", "status", "status_reason", "courier", "tracking_no",
    "activated_at", "created_at", "updated_at",
)  # fmt: skip
NUMBER_COLUMNS = ("id", "product_id", "msisdn", "status", "order_id", "created_at")
EVENT_COLUMNS = ("id", "order_id", "from_status", "to_status", "reason", "source", "accepted", "created_at")
LINE_COLUMNS = (
    "id", "order_id", "agent_id", "seller_id", "role", "depth", "level", "level_amount_fen", "paid_below_fen",
    "amount_fen", "points", "state", "settle_on", "created_at", "updated_at",
)  # fmt: skip
LEDGER_COLUMNS = (
    "id", "agent_id", "kind", "bucket", "delta", "balance_before", "balance_after", "order_id", "line_id",
    "withdrawal_id", "note", "created_at",
)  # fmt: skip


class History:
    """Writes orders with their events, numbers, commission lines and ledger entries."""

    def __init__(
        self,
        writer: BulkWriter,
        rng: random.Random,
        *,
        now: datetime,
        chains: Callable[[int], Sequence[Link]],
        first_ids: dict[str, int],
        balances: dict[tuple[int, str], int],
        shop_codes: dict[int, str],
        tag: str,
    ) -> None:
        self.writer, self.rng, self.now, self.chains, self.tag = writer, rng, now, chains, tag
        self.shop_codes = shop_codes
        self.ids = dict(first_ids)
        self.balances = balances
        # Future money moves by day (date ordinal), and a heap of those days: each day is
        # sorted once when the orders have moved past it, cheaper than a heap of millions.
        self.moves: dict[int, list[_Move]] = {}
        self.days: list[int] = []
        self.seq = 0
        self.shares: dict[tuple[int, int, int], list[Share]] = {}
        self.live_qty: Counter[int] = Counter()  # product id -> cards on live orders
        self.statuses: Counter[str] = Counter()
        self.orders, self.numbers, self.events = table(Order), table(PhoneNumber), table(OrderEvent)
        self.lines, self.ledger = table(CommissionLine), table(LedgerEntry)
        for name, columns in (
            (self.orders, ORDER_COLUMNS),
            (self.numbers, NUMBER_COLUMNS),
            (self.events, EVENT_COLUMNS),
            (self.lines, LINE_COLUMNS),
            (self.ledger, LEDGER_COLUMNS),
        ):
            writer.columns(name, columns)

    def _next(self, name: str) -> int:
        self.ids[name] += 1
        return self.ids[name] - 1

    def add(self, index: int, spec: OrderSpec) -> None:
        self._drain(spec.created)
        steps = timeline(spec.created, self.rng, self.now)
        last = steps[-1]
        order_id = self._next("orders")
        self._order_row(index, order_id, spec, steps)
        self.statuses[last.status] += 1
        previous = ""
        for step in steps:
            event_id = self._next("order_events")
            self.writer.put(
                self.events, (event_id, order_id, previous, step.status, step.reason, step.source, True, step.at)
            )
            previous = step.status
        if last.status not in DEAD:
            self.live_qty[spec.product.id] += spec.qty
        if spec.agent_id is not None:
            self._commission(order_id, spec, steps)

    def _order_row(self, index: int, order_id: int, spec: OrderSpec, steps: list[Step]) -> None:
        last, product, customer = steps[-1], spec.product, spec.customer
        live = last.status not in DEAD
        shipped = len(steps) > 2 and steps[2].status == "shipped"
        courier, prefix = COURIERS[index % len(COURIERS)] if shipped else ("", "")
        msisdn = f"147{(index * 7919 + 1) % 10**8:08d}" if product.number_selectable else None
        activated = next((step.at for step in steps if step.status == "activated"), None)
        local = spec.created + SHANGHAI_OFFSET
        self.writer.put(
            self.orders,
            (
                order_id, f"{local:%Y%m%d%H%M%S}{(index * 7919) % 10**6:06d}", f"{self.tag}-{index}", "",
                product.id, product.carrier, spec.qty, product.monthly_fee_fen, msisdn, msisdn if live else None,
                customer.name, customer.id_card, customer.phone, customer.province, customer.city, customer.district,
                customer.detail, spec.agent_id, self.shop_codes.get(spec.agent_id) if spec.agent_id else None,
                last.status, "" if live else last.reason, courier,
                f"{prefix}{(index * 104729) % 10**12:012d}" if shipped else "", activated, spec.created, last.at,
            ),
        )  # fmt: skip
        if msisdn is not None:
            number = (self._next("phone_numbers"), product.id, msisdn, "sold" if live else "free")
            self.writer.put(self.numbers, (*number, order_id if live else None, spec.created - timedelta(days=30)))

    def _commission(self, order_id: int, spec: OrderSpec, steps: list[Step]) -> None:
        """The order's commission lines as the listener would have left them, and their money."""
        assert spec.agent_id is not None
        key = (spec.agent_id, spec.product.id, spec.qty)
        shares = self.shares.get(key)
        if shares is None:
            amounts = list(spec.product.commission_fen or [])
            shares = self.shares[key] = commissions.plan_shares(amounts, self.chains(spec.agent_id), qty=spec.qty)
        at = {step.status: step.at for step in steps}
        last = steps[-1]
        state = line_state(last.status, at)
        settle_on = commissions.settle_date(at["activated"].replace(tzinfo=UTC)) if "recharged" in at else None
        updated = last.at if state != "pending" else spec.created
        for share in shares:
            line_id = self._next("commission_lines")
            self.writer.put(
                self.lines,
                (
                    line_id, order_id, share.agent_id, spec.agent_id, share.role, share.depth, share.level,
                    share.level_amount, share.paid_below, share.amount, share.points, state, settle_on,
                    spec.created, updated,
                ),
            )  # fmt: skip
            self._money(order_id, line_id, share, at, last)

    def _money(self, order_id: int, line_id: int, share: Share, at: dict[str, datetime], last: Step) -> None:
        """Queue the ledger moves this line made over the order's life (written in time order)."""
        note = ROLES.get(share.role, share.role)
        agent_id, amount, moves = share.agent_id, share.amount, self.moves

        def push(when: datetime, bucket: str, delta: int, kind: str, text: str = note) -> None:
            if delta:
                self.seq += 1
                move = (when, self.seq, agent_id, bucket, delta, kind, order_id, line_id, text)
                day = when.toordinal()
                if (queued := moves.get(day)) is not None:
                    queued.append(move)
                else:
                    moves[day] = [move]
                    heapq.heappush(self.days, day)

        push(at["submitted"], "pending", amount, "accrue")
        if "recharged" in at:
            push(at["recharged"], "pending", -amount, "freeze")
            push(at["recharged"], "frozen", amount, "freeze")
            push(at["recharged"], "points", share.points, "points", "平级奖励积分")
        if "settled" in at:
            push(at["settled"], "frozen", -amount, "settle")
            push(at["settled"], "settled", amount, "settle")
        if last.status in DEAD:
            push(last.at, "pending", -amount, "void")

    def _drain(self, until: datetime) -> None:
        """Write the money moves of every day before ``until``'s, oldest first.

        Orders come oldest first and a move is never earlier than the order it belongs
        to, so no move can join a day once the orders have moved past it."""
        self._write_days_before(until.toordinal())

    def _write_days_before(self, last: int) -> None:
        moves, days, balances, put, ledger = self.moves, self.days, self.balances, self.writer.put, self.ledger
        while days and days[0] < last:
            day = sorted(moves.pop(heapq.heappop(days)))
            for at, _seq, agent_id, bucket, delta, kind, order_id, line_id, note in day:
                before = balances.get((agent_id, bucket), 0)
                after = balances[(agent_id, bucket)] = before + delta
                if after < 0:
                    raise RuntimeError(f"seed ledger went negative for agent {agent_id} {bucket}")
                entry_id = self._next("ledger_entries")
                put(ledger, (entry_id, agent_id, kind, bucket, delta, before, after, order_id, line_id, None, note, at))

    def finish(self) -> None:
        """Write the money moves still ahead of the last order (up to now) and flush."""
        today = self.now.toordinal()
        later = [day for day in self.moves if day > today] + [m for m in self.moves.get(today, ()) if m[0] > self.now]
        if later:
            raise RuntimeError("seed produced money moves after now")
        self._write_days_before(today + 1)
        self.writer.wait()
