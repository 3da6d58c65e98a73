"""The stock service: the only code that changes how much of a product is left.

Plain Python: it is handed the nodes and a database session, so it runs the same in a
request, a CLI command, a benchmark and a test. DESIGN.md's stock path:

    validate -> sold-out check on the counters (no lock, no database)
             -> product Redlock on a majority, bounded wait -> fencing token (NextID)
             -> reserve.lua on every node: majority must apply it; repair the rest
             -> guarded UPDATE in the database + the caller's rows, one transaction
             -> on failure: unreserve.lua (compensation) -> release the lock

Why nothing is oversold (I1): the counters refuse when short and refuse stale tokens,
a majority must agree, and whatever the counters say, the database refuses a sale
with ``sold + qty > total`` or a fence older than the newest one that wrote it. The
database is the system of record: whenever the nodes disagree, the holder of the
lock rewrites them from it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from ..errors import Busy, DatabaseUnavailable, NotFound, SoldOut, StockUnavailable
from ..models import DbSession, Product, StockEntry
from .locks import Fence, LockManager
from .nodes import NodeSet, Reply

log = logging.getLogger(__name__)

T = TypeVar("T")
Record = Callable[[DbSession, Product], T]

MARKER_TTL = 24 * 3600  # how long a node remembers an applied order key


def stock_key(sku: str) -> str:
    return f"cardshop:stock:{{{sku}}}"


def marker_key(sku: str, order_key: str) -> str:
    return f"cardshop:stock:{{{sku}}}:op:{order_key}"


class AlreadyApplied(Exception):
    """The order key was applied before: the caller looks up what it produced."""


class _Resync(Exception):
    """The nodes disagree: rewrite them from the database and try once more."""


class _GuardRefused(Exception):
    """The database refused the sale although the counters allowed it."""

    def __init__(self, *, stale: bool) -> None:
        super().__init__("stale fence" if stale else "short in the database")
        self.stale = stale


@dataclass
class Tally:
    """The nodes' replies to one script, sorted by what they said."""

    replies: list[Reply]
    by_status: dict[str, list[Reply]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for reply in self.replies:
            status = _status(reply)
            self.by_status.setdefault(status, []).append(reply)

    def count(self, *statuses: str) -> int:
        return sum(len(self.by_status.get(status, [])) for status in statuses)

    def values(self, *statuses: str) -> set[int]:
        return {int(r.value[1]) for status in statuses for r in self.by_status.get(status, [])}

    def last_tokens(self) -> list[int]:
        return [int(r.value[2]) for r in self.replies if r.ok]

    @property
    def answered(self) -> int:
        return len(self.replies) - self.count("error")


def _status(reply: Reply) -> str:
    if not reply.ok:
        return "error"
    raw = reply.value[0]
    return raw.decode() if isinstance(raw, bytes) else str(raw)


@dataclass
class ReconcileRow:
    """One product in a reconcile: the database's count and each node's counter
    (a number, "missing" when the node has none, "down" when it did not answer)."""

    sku: str
    database: int
    nodes: list[int | str]
    fixed: bool


class StockService:
    def __init__(self, nodes: NodeSet, session: DbSession, locks: LockManager, *, grace: float = 0.02) -> None:
        self.nodes = nodes
        self.session = session
        self.locks = locks
        self.grace = grace  # extra wait for a straggling node once a majority answered

    # ------------------------------------------------------------------ reads

    def counters(self, skus: list[str]) -> list[list[int | None] | None]:
        """Each node's counter for each sku (None: missing); None for an unreachable node."""

        def read(client):  # type: ignore[no-untyped-def]
            pipe = client.pipeline(transaction=False)
            for sku in skus:
                pipe.hget(stock_key(sku), "avail")
            return [None if raw is None else int(raw) for raw in pipe.execute()]

        return [reply.value if reply.ok else None for reply in self.nodes.fanout(read)]

    def available(self, skus: list[str]) -> dict[str, int | None]:
        """What the counters say is left, without a lock: the median of the nodes that
        answered (one wrong node cannot move it). None where no majority knows the sku.
        Raises StockUnavailable when fewer than a majority of nodes answer."""
        per_node = [values for values in self.counters(skus) if values is not None]
        if len(per_node) < self.nodes.quorum:
            raise StockUnavailable()
        result: dict[str, int | None] = {}
        for position, sku in enumerate(skus):
            known = sorted(value for v in per_node if (value := v[position]) is not None)
            result[sku] = known[len(known) // 2] if len(known) >= self.nodes.quorum else None
        return result

    def refuse_if_sold_out(self, sku: str, qty: int) -> None:
        """The cheap answer for a sold-out product: counters only, no lock, no database."""
        needed = self.nodes.quorum

        def decided(replies: list[Reply]) -> bool:
            return sum(1 for r in replies if r.ok and r.value is not None and int(r.value) < qty) >= needed

        replies = self.nodes.fanout(lambda c: c.hget(stock_key(sku), "avail"), decided=decided)
        if sum(1 for r in replies if r.ok) < needed:
            raise StockUnavailable()
        if decided(replies):
            raise SoldOut()

    # ---------------------------------------------------------------- reserve

    def reserve(self, sku: str, qty: int, order_key: str, record: Record[T]) -> T:
        """Sell ``qty`` of ``sku`` and write the caller's rows in the same transaction.

        ``record(session, product)`` adds the order (or whatever the sale is for); it
        runs after the guarded stock update and before the commit. Raises SoldOut,
        Busy, StockUnavailable, AlreadyApplied (the order key was sold before), or
        whatever ``record``/the commit raised, after giving the stock back.
        """
        self.refuse_if_sold_out(sku, qty)
        with self.locks.hold(f"stock:{sku}") as fence:
            self._take(sku, qty, order_key, fence)
            try:
                return self._write_sale(sku, qty, fence, record)
            except _GuardRefused as refusal:
                self._give_back(sku, order_key, fence)
                if refusal.stale:
                    raise Busy() from None  # a newer holder wrote: we are the stale one
                self.resync(sku, fence)  # the counters were ahead of the database
                raise SoldOut() from None
            except BaseException:
                self._give_back(sku, order_key, fence)
                raise

    def _take(self, sku: str, qty: int, order_key: str, fence: Fence) -> None:
        for attempt in (1, 2):
            try:
                self._take_once(sku, qty, order_key, fence)
                return
            except _Resync:
                if attempt == 2:
                    raise Busy() from None
                self.resync(sku, fence)

    def _take_once(self, sku: str, qty: int, order_key: str, fence: Fence) -> None:
        quorum = self.nodes.quorum
        replies = self.nodes.run_script(
            "reserve",
            [stock_key(sku), marker_key(sku, order_key)],
            [fence.token, qty, MARKER_TTL],
            decided=lambda rs: sum(1 for r in rs if _status(r) in {"ok", "dup"}) >= quorum,
            grace=self.grace,
        )
        tally = Tally(replies)
        applied = tally.count("ok")
        if tally.answered < quorum:
            self._undo(sku, order_key, fence, tally)
            raise StockUnavailable()
        if tally.count("dup") >= quorum:
            raise AlreadyApplied()
        if tally.count("stale"):
            self._undo(sku, order_key, fence, tally)
            if not fence.held():
                raise Busy()  # our lock expired: a newer holder is selling
            self._raise_floor(fence, tally)
            raise _Resync()
        if applied >= quorum and len(tally.values("ok")) == 1:
            left = tally.values("ok").pop()
            laggards = [r.node for r in replies if _status(r) in {"short", "missing", "dup"}]
            laggards += [r.node for r in tally.by_status.get("ok", []) if int(r.value[1]) != left]
            if laggards:
                self._write_counters(sku, fence, left, nodes=laggards)
            return
        if tally.count("short") >= quorum:
            self._undo(sku, order_key, fence, tally)
            if applied:
                self.resync(sku, fence)  # a node that said yes was ahead of the others
            raise SoldOut()
        # Missing counters, mixed answers or different values: the nodes disagree.
        self._undo(sku, order_key, fence, tally)
        raise _Resync()

    def _undo(self, sku: str, order_key: str, fence: Fence, tally: Tally) -> None:
        if tally.count("ok"):
            self.nodes.run_script("unreserve", [stock_key(sku), marker_key(sku, order_key)], [fence.token])

    def _write_sale(self, sku: str, qty: int, fence: Fence, record: Record[T]) -> T:
        session = self.session
        try:
            result = session.execute(
                update(Product)
                .where(
                    Product.sku == sku,
                    Product.stock_sold + qty <= Product.stock_total,
                    Product.fence_token <= fence.token,
                )
                .values(stock_sold=Product.stock_sold + qty, fence_token=fence.token)
                .execution_options(synchronize_session=False)
            )
            product = session.scalars(select(Product).where(Product.sku == sku)).one()
            if result.rowcount != 1:  # type: ignore[attr-defined]
                session.rollback()
                raise _GuardRefused(stale=product.fence_token > fence.token)
            session.refresh(product)
            outcome = record(session, product)
            session.add(
                StockEntry(
                    product_id=product.id, kind="sale", qty=-qty, available_after=product.stock_available, actor="order"
                )
            )
            session.commit()
            return outcome
        except SQLAlchemyError as error:
            session.rollback()
            if _is_disconnect(error):
                raise DatabaseUnavailable() from error
            raise

    def _give_back(self, sku: str, order_key: str, fence: Fence) -> None:
        """Compensation: return a reservation whose database write failed."""
        tally = Tally(self.nodes.run_script("unreserve", [stock_key(sku), marker_key(sku, order_key)], [fence.token]))
        if tally.count("ok", "noop") < self.nodes.quorum:
            # Refused (our lock expired) or unreachable: the units stay taken on the
            # counters until the next resync or reconcile, which recomputes from the
            # database. That is an undersell for a while, never an oversell.
            log.warning("stock give-back for %s incomplete: %s", sku, sorted(tally.by_status))

    # ------------------------------------------------------ writes under lock

    def _database_available(self, sku: str) -> tuple[Product, int]:
        self.session.expire_all()
        product = self.session.scalars(select(Product).where(Product.sku == sku)).one_or_none()
        if product is None:
            raise NotFound()
        return product, product.stock_available

    def _write_counters(self, sku: str, fence: Fence, avail: int, nodes: list[int] | None = None) -> Tally:
        targets = range(len(self.nodes)) if nodes is None else nodes
        script = self.nodes.scripts["sync"]
        clients = self.nodes.clients

        def write(client):  # type: ignore[no-untyped-def]
            if clients.index(client) not in targets:
                return None
            return script(keys=[stock_key(sku)], args=[fence.token, avail], client=client)

        return Tally([r for r in self.nodes.fanout(write) if not (r.ok and r.value is None)])

    def _raise_floor(self, fence: Fence, tally: Tally, database_fence: int = 0) -> None:
        """Our token is older than one a node (or the database) has seen although we
        hold the lock: the sequence went back (a majority restarted empty). Move it
        past everything seen and take a new token."""
        floor = max([database_fence, *tally.last_tokens()])
        if floor >= fence.token:
            self.locks.raise_floor(fence.resource, floor)
            fence.token = self.locks.next_token(fence.resource)

    def resync(self, sku: str, fence: Fence) -> int:
        """Rewrite every reachable node's counter from the database (lock held)."""
        product, avail = self._database_available(sku)
        self.session.rollback()
        if product.fence_token >= fence.token:
            self._raise_floor(fence, Tally([]), product.fence_token)
        tally = self._write_counters(sku, fence, avail)
        if tally.count("stale"):
            self._raise_floor(fence, tally, product.fence_token)
            tally = self._write_counters(sku, fence, avail)
        if tally.count("ok") < self.nodes.quorum:
            raise StockUnavailable()
        return avail

    def restock(self, sku: str, qty: int, *, actor: str = "system", note: str = "") -> int:
        """Add ``qty`` units (negative removes unsold ones); returns what is now available."""
        with self.locks.hold(f"stock:{sku}") as fence:
            product, _ = self._database_available(sku)
            if product.stock_total + qty < product.stock_sold:
                self.session.rollback()
                raise SoldOut("不能减少到已售数量以下")
            product.stock_total += qty
            product.fence_token = max(product.fence_token, fence.token)
            self.session.add(
                StockEntry(
                    product_id=product.id,
                    kind="restock",
                    qty=qty,
                    available_after=product.stock_available,
                    actor=actor,
                    note=note,
                )
            )
            self._commit()
            return self.resync(sku, fence)

    def release(
        self,
        sku: str,
        qty: int,
        record: Record[None] | None = None,
        *,
        actor: str = "system",
        order_id: int | None = None,
        note: str = "",
    ) -> int:
        """Give ``qty`` sold units back (an order failed or was cancelled)."""
        with self.locks.hold(f"stock:{sku}") as fence:
            result = self.session.execute(
                update(Product)
                .where(Product.sku == sku, Product.stock_sold >= qty)
                .values(stock_sold=Product.stock_sold - qty)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                self.session.rollback()
                raise NotFound()
            product, avail = self._database_available(sku)
            if record is not None:
                record(self.session, product)
            self.session.add(
                StockEntry(
                    product_id=product.id,
                    kind="release",
                    qty=qty,
                    order_id=order_id,
                    available_after=avail,
                    actor=actor,
                    note=note,
                )
            )
            self._commit()
            return self.resync(sku, fence)

    def reconcile(self, *, dry_run: bool = False, actor: str = "reconcile") -> list[ReconcileRow]:
        """Recompute every product from the database and rewrite all nodes (I4)."""
        rows = []
        skus = list(self.session.scalars(select(Product.sku).order_by(Product.id)))
        for sku in skus:
            with self.locks.hold(f"stock:{sku}", wait=max(self.locks.wait, 5.0)) as fence:
                product, avail = self._database_available(sku)
                counters: list[int | str] = [
                    "down" if values is None else ("missing" if values[0] is None else values[0])
                    for values in self.counters([sku])
                ]
                differs = any(value != avail for value in counters)
                if differs and not dry_run:
                    self.session.rollback()
                    self.resync(sku, fence)
                    self.session.add(
                        StockEntry(
                            product_id=product.id,
                            kind="reconcile",
                            qty=0,
                            available_after=avail,
                            actor=actor,
                            note="nodes " + ",".join(map(str, counters)) + f" -> {avail}",
                        )
                    )
                    self._commit()
                else:
                    self.session.rollback()
                rows.append(ReconcileRow(sku, avail, counters, differs and not dry_run))
        return rows

    def _commit(self) -> None:
        try:
            self.session.commit()
        except SQLAlchemyError as error:
            self.session.rollback()
            if _is_disconnect(error):
                raise DatabaseUnavailable() from error
            raise


def _is_disconnect(error: SQLAlchemyError) -> bool:
    return bool(getattr(error, "connection_invalidated", False)) or type(error).__name__ == "OperationalError"
