"""Placing orders and showing them to the customer who placed them."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import Busy, Conflict, Invalid, NotFound, NumberTaken, RiskRefused
from ..metrics import counts_orders
from ..models import Agent, DbSession, Order, OrderEvent, PhoneNumber, Product, end_reads
from ..models.inserts import RowInsert
from ..models.lists import in_list
from ..models.order import STATUSES
from ..stock import AlreadyApplied, SoldProduct, StockService
from . import commissions, risk
from .catalog import TermsCache
from .holds import ORDER_CLAIM_SECONDS, Hold, HoldService
from .order_input import OrderInput, check_against_product
from .risk import RiskRules

SHANGHAI = ZoneInfo("Asia/Shanghai")
ORDERS = cast(Table, Order.__table__)
ORDER_EVENTS = cast(Table, OrderEvent.__table__)
INSERT_ORDERS = RowInsert(ORDERS)  # a plain order's row gives every column (OrderWriter.values)
# The first event of each order just inserted for a batch, found by idempotency key: one
# statement, and the orders' ids never travel to Python (SQLite cannot return the ids
# of a multi-row insert in order, so asking for them costs a statement per row).
FIRST_EVENTS = insert(ORDER_EVENTS).from_select(
    ["order_id", "to_status", "source", "created_at"],
    select(ORDERS.c.id, literal("submitted"), literal("customer"), ORDERS.c.created_at).where(
        in_list(ORDERS.c.idempotency_key, "keys")  # one parameter (cardshop/models/lists.py)
    ),
)


class OrderNumbers:
    """20-digit order numbers: Shanghai date and time to the second, then six digits.

    Six random digits collide by the birthday rule (at 500 orders a second, about once
    every eight seconds), so the six digits walk a permutation of 0..999999 from a
    random start with a random stride coprime to 10**6: no two numbers of one process
    repeat within a million orders, and they do not count up visibly. Processes draw
    their own walk; the rare clash between two of them is retried where the order is
    written (see :meth:`OrderWriter.__call__`)."""

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._mutex = threading.Lock()
        self._next = secrets.randbelow(10**6)
        # Ending in 1, 3, 7 or 9: no factor 2 or 5, so coprime with 10**6.
        self._stride = secrets.randbelow(10**5) * 10 + secrets.choice((1, 3, 7, 9))

    def new(self, now: datetime | None = None) -> str:
        now = (now or datetime.now(UTC)).astimezone(SHANGHAI)
        with self._mutex:
            suffix, self._next = self._next, (self._next + self._stride) % 10**6
        return f"{now:%Y%m%d%H%M%S}{suffix:06d}"


order_numbers = OrderNumbers()
new_order_no = order_numbers.new


_encode = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps's output; one encoder, not one per call


def fingerprint(order: OrderInput) -> str:
    raw = _encode(order.fingerprint_fields())
    return hashlib.sha256(raw.encode()).hexdigest()


def listed_product(session: DbSession, sku: str) -> Product:
    product = session.scalars(select(Product).where(Product.sku == sku)).one_or_none()
    if product is None or not product.listed:
        raise NotFound("没有找到该套餐，或已下架")
    return product


def existing_order(session: DbSession, idempotency_key: str, order: OrderInput) -> Order | None:
    """The order an earlier request with this key produced, if any.

    The same key with a different order is a client bug, refused with 409."""
    found = session.scalars(select(Order).where(Order.idempotency_key == idempotency_key)).one_or_none()
    if found is not None and found.request_fingerprint != fingerprint(order):
        raise Conflict("该幂等键已用于另一笔不同的订单", fields={"Idempotency-Key": "已用于另一笔订单"})
    return found


@dataclass(frozen=True)
class Placed:
    """What the customer is told about the order they placed."""

    order_no: str
    status: str
    status_label: str

    @classmethod
    def of(cls, order: Order) -> Placed:
        return cls(order.order_no, order.status, order.status_label)


@counts_orders
def place_order(
    session: DbSession,
    stock: StockService,
    order: OrderInput,
    *,
    idempotency_key: str,
    catalog: TermsCache | None = None,
    now: datetime | None = None,
    rules: RiskRules | None = None,
) -> tuple[Placed, bool]:
    """Sell the order's stock and write the order; returns (placed, created).

    A repeated idempotency key returns the first order with created=False (I5).
    Raises Invalid, RiskRefused, NotFound, SoldOut, NumberTaken, Busy or StockUnavailable.
    Checks run cheapest first: with a ``catalog`` cache, a sold-out plan is refused
    from the counters before anything is read from the database. The risk rules run
    in the sale's own transaction, for the whole batch at once (:func:`risk.screen`);
    a refused order gives its stock back. A picked number must not be held by anyone
    else: the order holds it for its buyer (with ``hold_token``, the buyer's own hold
    counts) and releases it once sold.
    """
    now = now or datetime.now(UTC)
    terms = (catalog or TermsCache(max_age=0)).listed(session, order.sku)
    check_against_product(order, terms, now.astimezone(SHANGHAI).date())
    stock.refuse_if_sold_out(order.sku, order.qty, idempotency_key)
    seller = _selling_agent(session, order.shop_code)
    if order.number:
        _check_number_free(session, terms.id, order.number)
    end_reads(session)  # no transaction is held open while waiting for a lock
    writer = OrderWriter(order, idempotency_key, seller, now, rules or RiskRules())
    claim = _claim_number(stock, order, idempotency_key)
    try:
        placed = _sell(session, stock, writer)
    except BaseException:
        if claim is not None and claim.fresh:  # a buyer's own earlier hold stays theirs
            HoldService(stock.nodes).release(claim.sku, claim.msisdn, claim.owner)
        raise
    if claim is not None:
        HoldService(stock.nodes).release(claim.sku, claim.msisdn, claim.owner)
    return placed


def _claim_number(stock: StockService, order: OrderInput, idempotency_key: str) -> Hold | None:
    """Hold the picked number for this buyer while it is sold (NumberTaken if someone
    else holds it). Without a hold token the owner is derived from the idempotency key,
    so a retried request claims as the same buyer."""
    if not order.number:
        return None
    owner = order.hold_token or "order-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return HoldService(stock.nodes).hold(order.sku, order.number, owner, seconds=ORDER_CLAIM_SECONDS)


class OrderWriter:
    """Writes one order in the sale's transaction (the stock service's ``record``).

    It runs in whichever thread sells the product's batch, so it keeps plain values
    only. :meth:`prepare` runs once per round before the writers: the risk rules for
    every order of the batch in two statements."""

    def __init__(
        self,
        order: OrderInput,
        idempotency_key: str,
        seller: tuple[int | None, str | None],
        now: datetime,
        rules: RiskRules,
    ) -> None:
        self.order = order
        self.idempotency_key = idempotency_key
        self.agent_id, self.shop_code = seller
        self.now = now
        self.rules = rules
        self.refusal: Exception | None = None
        # What the order's row holds apart from its number and its product, worked out
        # here, in the request's thread, rather than by the thread selling the batch
        # under the product's lock.
        self.fields = {
            "idempotency_key": idempotency_key,
            "request_fingerprint": fingerprint(order),
            "qty": order.qty,
            "msisdn": order.number,
            "number_claim": order.number,
            "customer_name": order.name,
            "id_card": order.id_card,
            "customer_phone": order.phone,
            "province": order.province,
            "city": order.city,
            "district": order.district,
            "address_detail": order.detail,
            "agent_id": self.agent_id,
            "shop_code": self.shop_code,
            "status": "submitted",
            "status_reason": "",
            "courier": "",
            "tracking_no": "",
            "activated_at": None,
            "created_at": now,
            "updated_at": now,
        }

    @classmethod
    def prepare(cls, session: DbSession, lots: list[tuple[SoldProduct, list[OrderWriter]]]) -> None:
        """The risk rules for every order of a round, in two statements per carrier: the
        orders of all its products, in their order, as if placed one by one."""
        groups: dict[tuple[RiskRules, str], list[OrderWriter]] = {}
        for product, writers in lots:
            for writer in writers:  # a round shares its rules, except in tests
                groups.setdefault((writer.rules, product.carrier), []).append(writer)
        for (rules, carrier), group in groups.items():
            applicants = [risk.Applicant(w.order.id_card, w.order.phone, w.order.qty) for w in group]
            now = max(writer.now for writer in group)  # the orders of a round arrived within moments
            refusals = risk.screen(session, applicants, carrier, now, rules)
            for writer, refusal in zip(group, refusals, strict=True):
                writer.refusal = refusal

    @classmethod
    def write_many(
        cls, session: DbSession, lots: list[tuple[SoldProduct, list[OrderWriter]]]
    ) -> list[list[Placed | Exception]]:
        """Write a round's orders; for each product, each order's Placed or the error
        that refused it.

        Plain orders (no picked number, no selling agent: a flash sale's crowd) of every
        product are inserted with one statement for the orders and one for their first
        events; the others are written one by one in savepoints, as :meth:`__call__` does."""
        results: list[list[Placed | Exception | None]] = [[w.refusal for w in writers] for _, writers in lots]
        plain = [
            (lot, i, writer.values(product))
            for lot, (product, writers) in enumerate(lots)
            for i, writer in enumerate(writers)
            if writer.refusal is None and not writer.order.number and writer.agent_id is None
        ]
        if plain:
            rows = [row for _, _, row in plain]
            connection = session.connection()  # Core statements: no ORM work for plain rows
            INSERT_ORDERS.run(connection, rows)
            connection.execute(FIRST_EVENTS, {"keys": [row["idempotency_key"] for row in rows]})
            for lot, i, row in plain:
                results[lot][i] = Placed(row["order_no"], "submitted", STATUSES["submitted"])
        for lot, (product, writers) in enumerate(lots):
            for i, writer in enumerate(writers):
                if results[lot][i] is None:
                    try:
                        with session.begin_nested():
                            results[lot][i] = writer(session, product)
                    except Exception as error:  # noqa: BLE001 - this order fails, the round goes on
                        results[lot][i] = error
        return [[result for result in outcomes if result is not None] for outcomes in results]

    def values(self, product: SoldProduct) -> dict[str, Any]:
        """The order's row, with a fresh order number (each attempt draws one)."""
        return {
            **self.fields,
            "order_no": new_order_no(self.now),
            "product_id": product.id,
            "carrier": product.carrier,
            "price_fen": product.monthly_fee_fen,
        }

    def __call__(self, session: DbSession, product: SoldProduct) -> Placed:
        if self.refusal is not None:
            raise self.refusal
        for attempt in range(3):
            row = Order(**self.values(product))
            try:
                with session.begin_nested():
                    session.add(row)
                    session.flush()
                break
            except IntegrityError as error:
                if "order_no" not in str(error.orig) or attempt == 2:
                    raise  # a repeated idempotency key or a taken number: the caller sorts it out
        if self.order.number and not _sell_number(session, product.id, self.order.number, row.id):
            raise NumberTaken()
        session.add(OrderEvent(order_id=row.id, to_status="submitted", source="customer", created_at=self.now))
        commissions.accrue(session, row)  # pending commission, in the sale's own transaction
        return Placed.of(row)


REPLAY_WAITS = (0.05, 0.1, 0.2, 0.4, 0.8)  # seconds: a twin request's first copy may be mid-batch


def _sell(session: DbSession, stock: StockService, writer: OrderWriter) -> tuple[Placed, bool]:
    order, key = writer.order, writer.idempotency_key
    try:
        return stock.reserve(order.sku, order.qty, key, writer, checked=True), True
    except (AlreadyApplied, IntegrityError, RiskRefused) as error:
        session.rollback()
        # The key was sold before (a replay), or is being sold right now by a twin
        # request: find the first order, waiting a little for one in flight. A replay
        # whose key the nodes forgot (they restarted empty) passes the counters and then
        # meets its own first order in the risk rules or the unique key.
        waits = REPLAY_WAITS if isinstance(error, AlreadyApplied) else ()
        for wait in (*waits, None):
            earlier = existing_order(session, key, order)
            if earlier is not None:
                return Placed.of(earlier), False
            if wait is None:
                break
            session.rollback()
            time.sleep(wait)
        if isinstance(error, RiskRefused):
            raise
        if order.number and isinstance(error, IntegrityError):
            raise NumberTaken() from None
        raise Busy() from None


def _selling_agent(session: DbSession, shop_code: str | None) -> tuple[int | None, str | None]:
    """The (id, shop code) of the agent whose shop sells this order, if any."""
    if not shop_code:
        return None, None
    agent = session.scalars(select(Agent).where(Agent.shop_code == shop_code)).one_or_none()
    if agent is None or not agent.active:
        raise Invalid(fields={"shop_code": "店铺不存在或已关闭"})
    if not agent.verified:
        raise Invalid("该店铺未开通（代理尚未完成实名认证），暂不能下单", fields={"shop_code": "店铺未开通"})
    return agent.id, agent.shop_code


def _check_number_free(session: DbSession, product_id: int, msisdn: str) -> None:
    number = session.scalars(select(PhoneNumber).where(PhoneNumber.msisdn == msisdn)).one_or_none()
    if number is None or number.product_id != product_id:
        raise Invalid(fields={"number": "该号码不属于此套餐"})
    if number.status != "free":
        raise NumberTaken()


def _sell_number(session: DbSession, product_id: int, msisdn: str, order_id: int) -> bool:
    result = session.execute(
        update(PhoneNumber)
        .where(PhoneNumber.msisdn == msisdn, PhoneNumber.product_id == product_id, PhoneNumber.status == "free")
        .values(status="sold", order_id=order_id)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def order_for_customer(session: DbSession, order_no: str, phone: str) -> Order:
    """The order, if ``phone`` is the contact phone it was placed with; else NotFound.

    Wrong phone and no such order give the same answer, so order numbers cannot be probed."""
    order = session.scalars(select(Order).where(Order.order_no == order_no)).one_or_none()
    if order is None or not phone or not secrets.compare_digest(order.customer_phone, phone):
        raise NotFound("没有找到该订单，请核对订单号和手机号")
    return order
