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
        """The batch's statements in the session's transaction, not committed: the guarded
        update, the sales' rows and the ledger; returns what each written sale's record
        returned. Raises GuardRefused (having changed nothing) when the database refuses
        the sale, WriteApart when the rows failed to go in together."""
        session = self.service.session
        total = sum(sale.qty for sale in taken)
        connection = session.connection()
        sold = connection.execute(
            GUARDED_SALE, {"sale_sku": self.sku, "sale_qty": total, "sale_token": fence.token}
        ).first()
        if sold is None:
            fence_now = session.scalar(select(Product.fence_token).where(Product.sku == self.sku))
            raise GuardRefused(stale=(fence_now or 0) > fence.token)
        product = SoldProduct(*sold)
        left = product.stock_available + total  # before this batch (read before any other update)
        for prepare, sales in _hooks(taken, "prepare"):
            prepare(session, product, [sale.record for sale in sales])
        written: dict[Sale, Any] = {}
        if together:
            for write_many, sales in _hooks(taken, "write_many"):
                self.write_together(session, product, write_many, sales, written)
        for sale in taken:
            if not sale.settled and sale not in written:
                try:
                    with session.begin_nested():
                        written[sale] = sale.record(session, product)
                except Exception as error:  # noqa: BLE001 - this sale fails, the batch goes on
                    sale.fail(error)
        unsold = total - sum(sale.qty for sale in written)
        if unsold:
            connection.execute(
                update(PRODUCTS).where(PRODUCTS.c.id == product.id).values(stock_sold=PRODUCTS.c.stock_sold - unsold)
            )
        entries = []
        now = utcnow()
        for sale in written:
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
        return written

    @staticmethod
    def write_together(
        session: DbSession, product: SoldProduct, write_many: Callable[..., list[Any]], sales: list[Sale], written: dict
    ) -> None:
        """Write these sales' rows with their records' ``write_many``; raises WriteApart
        if it fails as a whole (see :meth:`write_rows`)."""
        try:
            results = write_many(session, product, [sale.record for sale in sales])
        except SQLAlchemyError as error:
            if is_disconnect(error):
                raise
            raise WriteApart(str(error.orig if isinstance(error, DBAPIError) else error)) from error
        for sale, result in zip(sales, results, strict=True):
            if isinstance(result, BaseException):
                sale.fail(result)
            else:
                written[sale] = result

    @staticmethod
    def fail_all(sales: list[Sale], error: BaseException) -> None:
        for sale in sales:
            if not sale.settled:
                sale.fail(error)


def _hooks(sales: list[Sale], name: str) -> list[tuple[Callable[..., Any], list[Sale]]]:
    """Batch hooks of the sales' records: where the class of a sale's record has the
    classmethod ``name``, it is called once for all the sales whose records share it."""
    groups: dict[Callable[..., Any], list[Sale]] = {}
    for sale in sales:
        hook = getattr(type(sale.record), name, None)
        if hook is not None:
            groups.setdefault(hook, []).append(sale)
    return list(groups.items())
