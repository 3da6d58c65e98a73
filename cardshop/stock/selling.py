"""Selling one batch of orders for one product: the heart of the stock path.

Under the product's lock and one fencing token: reserve.lua on every node, the
majority's answer decides each order, nodes that answered differently are repaired;
then one database transaction with the guarded update, the orders' rows (together,
or each in its own savepoint when together fails) and the ledger; whatever did not
reach the database is given back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from .. import metrics
from ..errors import Busy, DatabaseUnavailable, SoldOut, StockUnavailable
from ..models import DbSession, Product, StockEntry, is_disconnect
from ..models.base import utcnow
from ..models.inserts import RowInsert
from ..models.turns import write_turns
from .combine import Sale
from .locks import Fence
from .nodes import Reply
from .tally import Tally

if TYPE_CHECKING:
    from .service import StockService

log = logging.getLogger(__name__)

STOCK_ENTRIES = cast(Table, StockEntry.__table__)
PRODUCTS = cast(Table, Product.__table__)
INSERT_ENTRIES = RowInsert(STOCK_ENTRIES)
MARKER_TTL = 24 * 3600  # how long a node remembers an applied order key

# The guarded sale of a batch: the statement that makes an oversell impossible whatever
# the counters say (I1). Built once, run as Core on the session's connection, and
# returning only what a sale's records need: loading the ORM Product through an
# ORM-enabled UPDATE ... RETURNING cost about a tenth of a spread sale's CPU.
GUARDED_SALE = (
    update(PRODUCTS)
    .where(
        PRODUCTS.c.sku == bindparam("sale_sku"),
        PRODUCTS.c.stock_sold + bindparam("sale_qty") <= PRODUCTS.c.stock_total,
        PRODUCTS.c.fence_token <= bindparam("sale_token"),
    )
    .values(stock_sold=PRODUCTS.c.stock_sold + bindparam("sale_qty"), fence_token=bindparam("sale_token"))
    .returning(
        PRODUCTS.c.id,
        PRODUCTS.c.sku,
        PRODUCTS.c.carrier,
        PRODUCTS.c.monthly_fee_fen,
        PRODUCTS.c.stock_total,
        PRODUCTS.c.stock_sold,
    )
)


@dataclass(frozen=True)
class SoldProduct:
    """The product as a batch's guarded update left it: what the sale's records get."""

    id: int
    sku: str
    carrier: str
    monthly_fee_fen: int
    stock_total: int
    stock_sold: int

    @property
    def stock_available(self) -> int:
        return self.stock_total - self.stock_sold


class AlreadyApplied(Exception):
    """The order key was applied before: the caller looks up what it produced."""


class Resync(Exception):
    """The nodes disagree: rewrite them from the database and try once more."""


class WriteApart(Exception):
    """The batch's rows failed to go in together: write them one by one instead."""


class GuardRefused(Exception):
    """The database refused the sale although the counters allowed it."""

    def __init__(self, *, stale: bool) -> None:
        super().__init__("stale fence" if stale else "short in the database")
        self.stale = stale


def stock_key(sku: str) -> str:
    return f"cardshop:stock:{{{sku}}}"


def marker_key(sku: str, order_key: str) -> str:
    return f"cardshop:stock:{{{sku}}}:op:{order_key}"


def seen_key(sku: str) -> str:
    """The product's filter of applied order keys (soldout.py)."""
    return f"{stock_key(sku)}:seen"


def lease_keys(sku: str) -> list[str]:
    """The product's sold-out lease and its rising flag (soldout.py)."""
    return [f"{stock_key(sku)}:lease", f"{stock_key(sku)}:rising"]


class BatchSale:
    def __init__(
        self, service: StockService, sku: str, sales: list[Sale], clock: metrics.StepClock | None = None
    ) -> None:
        self.service = service
        self.nodes = service.nodes
        self.sku = sku
        self.sales = sales
        self.clock = clock or metrics.step_clock()

    def markers(self, sales: list[Sale]) -> list[str]:
        return [marker_key(self.sku, sale.order_key) for sale in sales]

    def sell(self, fence: Fence) -> bool:
        """Settle every sale of the batch under ``fence``; raises only what applies to
        all of them. Returns False when a newer fence was seen (ours is spent)."""
        taken = self.take(fence)
        self.clock.step("reserve")
        if not taken:
            return True
        held = self.write(taken, fence)
        self.clock.step("write")
        return held

    # -- the counters --------------------------------------------------------

    def take(self, fence: Fence, replies: list[Reply] | None = None) -> list[Sale]:
        """Reserve on the nodes; settle the refused sales; return the taken ones.
        ``replies``: the nodes' answers to :meth:`reserve_command`, sent already (with
        other plans' in one round trip); otherwise it is sent here."""
        for attempt in (1, 2):
            try:
                outcomes = self.reserve_once(fence, replies if attempt == 1 else None)
                break
            except Resync:
                if attempt == 2:
                    raise Busy() from None
                self.service.resync(self.sku, fence, forget=self.markers(self.sales))
        taken = []
        for sale, outcome in zip(self.sales, outcomes, strict=True):
            if outcome == "ok":
                taken.append(sale)
            elif outcome == "dup":
                sale.fail(AlreadyApplied())
            else:
                sale.fail(SoldOut())
        return taken

    def reserve_command(self, fence: Fence) -> tuple[list[Any], list[Any]]:
        """reserve.lua's keys and arguments for this batch under ``fence``."""
        keys = [stock_key(self.sku), seen_key(self.sku), *self.markers(self.sales)]
        return keys, [fence.token, MARKER_TTL, *(sale.qty for sale in self.sales)]

    def reserve_once(self, fence: Fence, replies: list[Reply] | None = None) -> list[str]:
        quorum = self.nodes.quorum
        if replies is None:
            keys, args = self.reserve_command(fence)
            replies = self.nodes.run_script(
                "reserve",
                keys,
                args,
                decided=lambda rs: Tally(rs).agreement(quorum) is not None,
                grace=self.service.grace,
            )
        tally = Tally(replies)
        if tally.answered < quorum:
            self.undo(fence, self.sales)
            metrics.count_quorum_failure()
            raise StockUnavailable()
        if tally.count("stale"):
            self.undo(fence, self.sales)
            if not fence.held():
                raise Busy()  # our lock expired: a newer holder is selling
            self.service.raise_floor(fence, tally)
            raise Resync()
        agreed = tally.agreement(quorum)
        if agreed is None:  # missing counters, different values: rebuild from the database
            self.undo(fence, self.sales)
            raise Resync()
        avail, outcomes = agreed
        self.service.combiner.note_left(self.sku, avail)
        laggards = tally.disagreeing_nodes(avail, outcomes)
        if laggards:
            refused = [s for s, outcome in zip(self.sales, outcomes, strict=True) if outcome != "ok"]
            self.service.write_counters(self.sku, fence, avail, nodes=laggards, forget=self.markers(refused))
        return outcomes

    def undo(self, fence: Fence, sales: list[Sale]) -> None:
        """Give back what these sales took on the nodes (a no-op where they took nothing)."""
        keys = [stock_key(self.sku), *lease_keys(self.sku), *self.markers(sales)]
        tally = self.service.raise_counters("unreserve", keys, [fence.token])
        if tally.count("ok") < self.nodes.quorum:
            # Refused (our lock expired) or unreachable: the units stay taken on the
            # counters until the next resync or reconcile recomputes them from the
            # database. An undersell for a while, never an oversell.
            log.warning("stock give-back for %s incomplete: %s", self.sku, sorted(tally.by_status))

    # -- the database --------------------------------------------------------

    def write(self, taken: list[Sale], fence: Fence) -> bool:
        """The taken sales' database transaction (see write_rows); settles each of them.
        Returns False when a newer fence was seen (ours is spent)."""
        try:
            written = self.write_rows(taken, fence)
        except GuardRefused as refusal:
            return self.refused(taken, fence, refusal)
        except BaseException as error:
            self.undo(fence, taken)
            self.fail_all(taken, error)
            raise
        self.finish(taken, fence, written)
        return True

    def refused(self, taken: list[Sale], fence: Fence, refusal: GuardRefused) -> bool:
        """The database refused the batch (nothing of it was written): give its stock
        back and fail it. Returns False when that was for a newer fence."""
        self.undo(fence, taken)
        if refusal.stale:
            self.fail_all(taken, Busy())  # a newer holder wrote: we are the stale one
            return False
        self.service.resync(self.sku, fence)  # the counters were ahead of the database
        self.fail_all(taken, SoldOut() if len(taken) == 1 else Busy())
        return True

    def finish(self, taken: list[Sale], fence: Fence, written: dict[Sale, Any]) -> None:
        """After the commit: the written sales succeed, the others give their stock back."""
        failed = [sale for sale in taken if sale not in written]
        if failed:
            self.undo(fence, failed)
        for sale, result in written.items():
            sale.succeed(result)

    def write_rows(self, taken: list[Sale], fence: Fence) -> dict[Sale, Any]:
        """One transaction: the guarded update, then the sales' rows (see _write_rows).

        The rows go in together (``write_many``), with no savepoint around them. If that
        fails as a whole (a duplicate key, say), the transaction is rolled back and done
        again with each sale in a savepoint of its own, so only the offending one fails.
        A savepoint costs two statements and the session's nested-transaction work on
        every batch, and the whole-batch failure is rare (a replay whose key the nodes
        forgot, or two processes drawing the same order number)."""
        with write_turns.turn(self.service.session):
            try:
                return self._write_rows(taken, fence, together=True)
            except WriteApart as apart:
                log.info("batch write of %d sales for %s fell back to one by one: %s", len(taken), self.sku, apart)
                return self._write_rows(taken, fence, together=False)

    def _write_rows(self, taken: list[Sale], fence: Fence, *, together: bool) -> dict[Sale, Any]:
        session = self.service.session
        try:
            written = self.stage(taken, fence, together=together)
            session.commit()
            return written
        except (WriteApart, GuardRefused):
            session.rollback()
            raise
        except SQLAlchemyError as error:
            session.rollback()
            if is_disconnect(error):
                raise DatabaseUnavailable() from error
            raise

    def stage(self, taken: list[Sale], fence: Fence, *, together: bool) -> dict[Sale, Any]:
        """This batch's statements in the session's transaction, not committed (see
        :func:`stage`); raises GuardRefused (having changed nothing) when the database
        refuses the sale."""
        written, refused = stage(self.service.session, [Lot(self, taken, fence)], together=together)
        if refused:
            raise refused[self.sku]
        return written[self.sku]

    @staticmethod
    def fail_all(sales: list[Sale], error: BaseException) -> None:
        for sale in sales:
            if not sale.settled:
                sale.fail(error)


@dataclass
class Lot:
    """One product's part of a transaction: its batch, the sales it took, its fence."""

    sale: BatchSale
    taken: list[Sale]
    fence: Fence
    product: SoldProduct | None = None  # as the guarded update left it

    @property
    def sku(self) -> str:
        return self.sale.sku


def stage(
    session: DbSession, lots: list[Lot], *, together: bool
) -> tuple[dict[str, dict[Sale, Any]], dict[str, GuardRefused]]:
    """The statements that sell ``lots`` (one product each) in the session's
    transaction, not committed. Returns, for each product the database let sell, what
    each of its written sales' records returned, and for each product it refused the
    refusal (its guarded update matched no row, so nothing of it was written).

    Each product's guarded update (I1) goes first, in the given order; then the records'
    batch hooks run once for all products: where the class of a sale's record has a
    ``prepare(session, lots)`` classmethod, it gets every product with its records
    (``lots``: a list of (SoldProduct, records)), for checks read in one query for all;
    with ``together``, its ``write_many(session, lots)`` writes their rows together and
    returns, for each product, each record's result or the exception that refused it.
    If that fails as a whole, WriteApart is raised and the caller does the transaction
    again without ``together``: then each sale's record is called on its own, in a
    savepoint (as are the records without ``write_many``). Last, a product whose sales
    did not all go in gives back the rest in its row, and the ledger gets one line per
    sale, all in one statement."""
    connection = session.connection()
    refused: dict[str, GuardRefused] = {}
    sold: list[Lot] = []
    for lot in lots:
        row = connection.execute(
            GUARDED_SALE,
            {"sale_sku": lot.sku, "sale_qty": sum(sale.qty for sale in lot.taken), "sale_token": lot.fence.token},
        ).first()
        if row is None:
            fence_now = session.scalar(select(Product.fence_token).where(Product.sku == lot.sku))
            refused[lot.sku] = GuardRefused(stale=(fence_now or 0) > lot.fence.token)
            continue
        lot.product = SoldProduct(*row)
        sold.append(lot)
    written: dict[str, dict[Sale, Any]] = {lot.sku: {} for lot in sold}
    for prepare, parts in _hooks(sold, "prepare"):
        prepare(session, [(lot.product, [sale.record for sale in sales]) for lot, sales in parts])
    if together:
        for write_many, parts in _hooks(sold, "write_many"):
            try:
                results = write_many(session, [(lot.product, [sale.record for sale in sales]) for lot, sales in parts])
            except SQLAlchemyError as error:
                if is_disconnect(error):
                    raise
                raise WriteApart(str(error.orig if isinstance(error, DBAPIError) else error)) from error
            for (lot, sales), outcomes in zip(parts, results, strict=True):
                for sale, result in zip(sales, outcomes, strict=True):
                    if isinstance(result, BaseException):
                        sale.fail(result)
                    else:
                        written[lot.sku][sale] = result
    entries = []
    now = utcnow()
    for lot in sold:
        product, done = cast(SoldProduct, lot.product), written[lot.sku]
        for sale in lot.taken:
            if not sale.settled and sale not in done:
                try:
                    with session.begin_nested():
                        done[sale] = sale.record(session, product)
                except Exception as error:  # noqa: BLE001 - this sale fails, the batch goes on
                    sale.fail(error)
        unsold = sum(sale.qty for sale in lot.taken) - sum(sale.qty for sale in done)
        if unsold:
            connection.execute(
                update(PRODUCTS).where(PRODUCTS.c.id == product.id).values(stock_sold=PRODUCTS.c.stock_sold - unsold)
            )
        left = product.stock_available + sum(sale.qty for sale in lot.taken)  # before this batch
        for sale in done:
            left -= sale.qty
            entries.append(
                {
                    "product_id": product.id,
                    "kind": "sale",
                    "qty": -sale.qty,
                    "available_after": left,
                    "actor": "order",
                    "note": sale.order_key[:200],
                    "order_id": None,
                    "created_at": now,
                }
            )
    if entries:
        INSERT_ENTRIES.run(connection, entries)
    return written, refused


def _hooks(lots: list[Lot], name: str) -> list[tuple[Callable[..., Any], list[tuple[Lot, list[Sale]]]]]:
    """Batch hooks of the lots' records: where the class of a sale's record has the
    classmethod ``name``, it is called once for all the sales whose records share it,
    with each product's sales apart."""
    groups: dict[Callable[..., Any], dict[int, tuple[Lot, list[Sale]]]] = {}
    for position, lot in enumerate(lots):
        for sale in lot.taken:
            hook = getattr(type(sale.record), name, None)
            if hook is not None:
                groups.setdefault(hook, {}).setdefault(position, (lot, []))[1].append(sale)
    return [(hook, list(parts.values())) for hook, parts in groups.items()]
