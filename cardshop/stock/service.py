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
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from .. import metrics
from ..errors import Busy, CardshopError, DatabaseUnavailable, NotFound, SoldOut, StockUnavailable
from ..models import DbSession, Product, StockEntry, is_disconnect
from ..models.turns import write_turns
from .combine import MAX_PLANS, Combiner, Sale
from .locks import Fence, LockManager, NodeRedlock
from .nodes import NodeSet, Reply, script_command
from .pool import call_node
from .selling import (
    AlreadyApplied,
    BatchSale,
    Lot,
    SoldProduct,
    WriteApart,
    lease_keys,
    marker_key,
    seen_key,
    stage,
    stock_key,
)
from .soldout import SeenKeys, SoldOutLeases, as_version, new_epoch, wait_out_leases
from .tally import Tally

__all__ = ["AlreadyApplied", "ReconcileRow", "StockService", "marker_key", "stock_key"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# A product whose first order has waited this many leases has its lock waited for at
# the start of the next round, before the others are tried: a lock tried without
# waiting can be lost round after round to a process that sells it in leases. (Selling
# such a product alone instead let a slow moment cascade: every plan's orders grew old,
# every round sold one plan, and they grew older.)
ALONE_AFTER = 4
Record = Callable[[DbSession, Product], T]  # release(): the product row, loaded
SaleRecord = Callable[[DbSession, SoldProduct], T]  # reserve(): the product as the sale left it


@dataclass
class ReconcileRow:
    """One product in a reconcile: the database's count and each node's counter
    (a number, "missing" when the node has none, "down" when it did not answer)."""

    sku: str
    database: int
    nodes: list[int | str]
    fixed: bool


class StockService:
    def __init__(
        self,
        nodes: NodeSet,
        session: DbSession,
        locks: LockManager,
        *,
        combiner: Combiner | None = None,
        leases: SoldOutLeases | None = None,
        grace: float = 0.02,
        lease: float = 0.03,
    ) -> None:
        self.nodes = nodes
        self.session = session
        self.locks = locks
        self.combiner = combiner or Combiner()
        self.leases = leases or SoldOutLeases()  # one per process, like the combiner
        self.grace = grace  # extra wait for a straggling node once a majority answered
        self.lease = lease  # longest a process keeps a product's lock for batches queued meanwhile

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

    def refuse_if_sold_out(self, sku: str, qty: int, order_key: str = "") -> None:
        """The cheap answer for a sold-out product: counters only, no lock, no database.

        A majority must say fewer than ``qty`` are left and that ``order_key`` was not
        sold before (a replay of a sold order goes on to find that order). Skipped while
        a batch of this process saw plenty left a moment ago: the batch decides anyway.
        Where a majority said nothing is left and granted a sold-out lease, the next
        answers until it ends come from memory (cardshop/stock/soldout.py)."""
        hint = self.combiner.left(sku)
        if hint is not None and hint >= qty:
            return
        marker = marker_key(sku, order_key)
        if self.leases.refuses(sku, marker):
            raise SoldOut()
        needed = self.nodes.quorum

        def short(reply: Reply) -> bool:
            return reply.ok and 0 <= int(reply.value[0]) < qty and not int(reply.value[1])

        asked_at = time.monotonic()
        replies = self.nodes.run_script(
            "peek",
            [stock_key(sku), marker, *lease_keys(sku)],
            [self.leases.lease_ms],
            decided=lambda rs: sum(map(short, rs)) >= needed or sum(r.ok and not short(r) for r in rs) >= needed,
            read=True,
        )
        if sum(1 for r in replies if r.ok) < needed:
            metrics.count_quorum_failure()
            raise StockUnavailable()
        if sum(map(short, replies)) >= needed:
            granted = [(r.node, as_version(r.value[2], r.value[3])) for r in replies if short(r) and int(r.value[4])]
            if len(granted) >= needed:
                self.leases.grant(sku, asked_at, granted, self._seen_keys(sku))
            raise SoldOut()

    def _seen_keys(self, sku: str) -> Callable[[int], SeenKeys | None]:
        """Reads one node's seen-keys filter of ``sku`` (None if it does not answer)."""
        keys = [stock_key(sku), seen_key(sku)]
        script = self.nodes.scripts["seen"]

        def fetch(index: int) -> SeenKeys | None:
            client = self.nodes.clients[index]
            try:
                applied, epoch, bitmap = call_node(client, script, keys=keys, args=[], client=client).result(
                    timeout=self.nodes.wait
                )
            except Exception:  # noqa: BLE001 - no copy, no lease: the next check reads again
                return None
            return SeenKeys(as_version(applied, epoch), bytes(bitmap))

        return fetch

    # ---------------------------------------------------------------- reserve

    def reserve(self, sku: str, qty: int, order_key: str, record: SaleRecord[T], *, checked: bool = False) -> T:
        """Sell ``qty`` of ``sku`` and write the caller's rows in the same transaction.

        ``record(session, product)`` adds the order (or whatever the sale is for), with
        ``product`` a :class:`SoldProduct` (the row as the guarded update left it); it
        runs after the guarded stock update, in its own savepoint, possibly in another
        thread of this process that sells a round of batches, so it must use only the
        session it is given and plain values. Returns what it returns. The class of
        ``record`` may have batch hooks, ``prepare`` and ``write_many``, called once for
        the records of every product in a round's transaction (see selling.stage); if
        ``write_many`` fails as a whole, the transaction is done again with the records
        called one by one, each in its own savepoint.
        Raises SoldOut, Busy, StockUnavailable, AlreadyApplied (the order key was sold
        before), DatabaseUnavailable, or whatever ``record`` raised; in every case the
        stock is given back. ``checked``: the caller ran :meth:`refuse_if_sold_out` already.
        """
        started = time.monotonic()
        outcome = "sold"
        try:
            if not checked:
                self.refuse_if_sold_out(sku, qty, order_key)
            sale = Sale(qty, order_key, record)
            return self.combiner.sell(sku, sale, self._sell_round)  # type: ignore[no-any-return]
        except CardshopError as error:
            outcome = error.code
            raise
        except AlreadyApplied:
            outcome = "duplicate"
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            metrics.observe_stock_path(time.monotonic() - started, outcome)

    def _sell_round(self) -> None:
        """Sell a round (see combine.py): the orders queued in this process for up to
        MAX_PLANS products, the product whose orders waited longest first.

        Their locks are tried all at once (:meth:`LockManager.take_many`); a product
        whose lock is held elsewhere keeps its orders queued for the next round. When no
        lock is won, the round waits for the first product's lock as a single sale does
        (:meth:`LockManager.acquire`), so a round never spins and a hot product held by
        another process is taken the moment it is let go of. A product whose orders
        waited longer than ALONE_AFTER leases (its lock lost round after round to
        another process) is waited for that way first, holding nothing, and then the
        others are tried: a round waits for a lock only while it holds none, so two
        processes cannot wait for each other's. Orders that have waited longer than the
        lock wait fail with Busy. Once the batches are taken (what queued until then),
        every batch is sold under its own lock and token by :meth:`_sell_plans`, which
        draws the tokens in the same round trip as the reserve.lua calls. A round that
        holds one product keeps its lock for the lease, selling what queues meanwhile."""
        clock = metrics.step_clock()  # where the round's time goes: take, reserve, write, release
        skus = self.combiner.queued()[:MAX_PLANS]
        if not skus:
            return
        asked = time.monotonic()
        resources = {f"stock:{sku}": sku for sku in skus}
        locks: dict[str, NodeRedlock] = {}
        try:
            if not self._take_round_locks(skus, asked, locks):
                return
            too_old = time.monotonic() - self.locks.wait
            for resource, sku in resources.items():
                if resource not in locks and (self.combiner.oldest(sku) or asked) < too_old:
                    self.combiner.fail_queued(sku, Busy(), before=too_old)
            fences = {
                resources[resource]: Fence(lock, resource, int(lock.sequence_seen or 0) + 1)
                for resource, lock in locks.items()
            }
            undrawn = set(fences)
            clock.step("take")
            started = time.monotonic()
            try:
                batches = {sku: self.combiner.take(sku) for sku in sorted(fences)}
                spent = self._sell_plans(batches, fences, clock, undrawn)
                while len(fences) == 1 and not spent and time.monotonic() < started + self.lease:
                    batches = {sku: self.combiner.take(sku) for sku in fences}
                    if not any(batches.values()):
                        break
                    spent = self._sell_plans(batches, fences, clock, undrawn)
            finally:
                if fences:
                    metrics.observe_lock_held(time.monotonic() - started)
        finally:
            if locks:
                self.locks.let_go_many(locks)
                clock.step("release")

    def _take_round_locks(self, skus: list[str], asked: float, locks: dict[str, NodeRedlock]) -> bool:
        """Win the round's locks into ``locks`` (see :meth:`_sell_round`). False when a lock
        could not be had: a wait for one ran out (Busy) or too few nodes answered
        (StockUnavailable); the orders it was for, queued before ``asked``, fail with it."""
        first = skus[0]

        def wait_for_first() -> bool:
            try:
                locks[f"stock:{first}"] = self.locks.acquire(f"stock:{first}")
            except (Busy, StockUnavailable) as error:
                self.combiner.fail_queued(first, error, before=asked)
                return False
            return True

        waited = asked - (self.combiner.oldest(first) or asked)
        first_alone = len(skus) == 1 or waited > ALONE_AFTER * self.lease
        if first_alone and not wait_for_first():
            return False
        others = skus[1:] if first_alone else skus
        if others:
            try:
                locks.update(self.locks.take_many([f"stock:{sku}" for sku in others]))
            except StockUnavailable as error:
                for sku in others:
                    self.combiner.fail_queued(sku, error, before=asked)
                return False
        return bool(locks) or wait_for_first()

    def _sell_plans(
        self, batches: dict[str, list[Sale]], fences: dict[str, Fence], clock: metrics.StepClock, undrawn: set[str]
    ) -> bool:
        """Sell each product's batch under its fence: reserve.lua for all of them in one
        round trip, then one database transaction for all (:meth:`_write_plans`). Every
        sale is settled; a failure that belongs to one product (its nodes, its counters)
        fails only that product's batch. Returns True when some fence turned out spent
        (a newer one was seen).

        The fences of ``undrawn`` products carry a token not drawn yet: its NextID write
        goes in the same round trip, just before the product's reserve.lua. Only if a
        majority applied it does what reserve.lua answered count; otherwise what it took
        under that token is given back at once (nothing of it reaches the database) and
        the batch is sold again under a token drawn the usual way."""
        sales = {sku: BatchSale(self, sku, batch, clock) for sku, batch in batches.items() if batch}
        if not sales:
            return False
        pairs = []
        script = self.nodes.scripts["reserve"]
        for sku, sale in sales.items():
            metrics.observe_batch(len(sale.sales))
            if sku in undrawn:
                pairs.append(self.locks.drawing(fences[sku]))
            pairs.append(script_command(script, *sale.reserve_command(fences[sku])))
        commands, calls = zip(*pairs, strict=True)
        answers = iter(self.nodes.send_many(commands, calls, grace=self.grace))
        taken: dict[str, list[Sale]] = {}
        for sku, sale in sales.items():
            fence = fences[sku]
            drawn = self.locks.drawn(fence, next(answers)) if sku in undrawn else True
            replies: list[Reply] | None = next(answers)
            undrawn.discard(sku)
            try:
                if not drawn:
                    sale.undo(fence, sale.sales)
                    fence.token = self.locks.next_token(fence.resource)
                    replies = None
                taken[sku] = sale.take(fence, replies)
            except Exception as error:  # noqa: BLE001 - this product's batch fails, the round goes on
                sale.fail_all(sale.sales, error)
        clock.step("reserve")
        plans = {sku: (sales[sku], batch) for sku, batch in taken.items() if batch}
        spent = self._write_plans(plans, fences) if plans else False
        clock.step("write")
        return spent

    def _write_plans(self, plans: dict[str, tuple[BatchSale, list[Sale]]], fences: dict[str, Fence]) -> bool:
        """One transaction for every product's taken sales (selling.stage), settling each
        sale. A product the database refuses is left out of it and given back
        (:meth:`BatchSale.refused`); if one product's rows fail to go in together, the
        transaction is rolled back and each product is written in one of its own
        (:meth:`BatchSale.write`). Returns True when some fence turned out spent."""
        if len(plans) == 1:
            ((sku, (sale, taken)),) = plans.items()
            return not sale.write(taken, fences[sku])
        try:
            with write_turns.turn(self.session):
                try:
                    lots = [Lot(sale, taken, fences[sku]) for sku, (sale, taken) in plans.items()]
                    written, refused = stage(self.session, lots, together=True)
                    self.session.commit()
                except BaseException:
                    self.session.rollback()
                    raise
        except WriteApart as apart:
            log.info("round write of %d products fell back to one by one: %s", len(plans), apart)
            wrote = [sale.write(taken, fences[sku]) for sku, (sale, taken) in plans.items()]  # every plan written
            return not all(wrote)
        except BaseException as raised:
            error: BaseException = raised
            if isinstance(raised, SQLAlchemyError) and is_disconnect(raised):
                error = DatabaseUnavailable()
            for sku, (sale, taken) in plans.items():
                sale.undo(fences[sku], taken)
                sale.fail_all(taken, error)
            if error is raised:
                raise
            raise error from raised
        held = True
        for sku, (sale, taken) in plans.items():
            if sku in refused:
                held = sale.refused(taken, fences[sku], refused[sku]) and held
            else:
                sale.finish(taken, fences[sku], written[sku])
        return not held

    # ------------------------------------------------------ writes under lock

    def _database_available(self, sku: str) -> tuple[Product, int]:
        self.session.expire_all()
        product = self.session.scalars(select(Product).where(Product.sku == sku)).one_or_none()
        if product is None:
            raise NotFound()
        return product, product.stock_available

    def write_counters(
        self, sku: str, fence: Fence, avail: int, nodes: list[int] | None = None, forget: list[str] | None = None
    ) -> Tally:
        """Set the counter on ``nodes`` (default all) and delete the ``forget`` markers;
        a raise waits out the nodes' sold-out leases (see soldout.py)."""
        keys = [stock_key(sku), *lease_keys(sku), *(forget or [])]
        return self.raise_counters("sync", keys, [fence.token, avail, new_epoch()], nodes)

    def raise_counters(self, script: str, keys: list[str], args: list[Any], nodes: list[int] | None = None) -> Tally:
        """Run sync.lua or unreserve.lua on ``nodes`` (default all), waiting out leases."""
        clients = self.nodes.clients

        def run(targets: list[int]) -> list[Reply]:
            if len(targets) == len(clients):
                return self.nodes.run_script(script, keys, args)

            def call(client):  # type: ignore[no-untyped-def]
                if clients.index(client) not in targets:
                    return None
                return self.nodes.scripts[script](keys=keys, args=args, client=client)

            return [r for r in self.nodes.fanout(call) if r.node in targets]

        return Tally(wait_out_leases(run, list(range(len(clients))) if nodes is None else nodes))

    def raise_floor(self, fence: Fence, tally: Tally, database_fence: int = 0) -> None:
        """Our token is older than one a node (or the database) has seen although we
        hold the lock: the sequence went back (a majority restarted empty). Move it
        past everything seen and take a new token."""
        floor = max([database_fence, *tally.last_tokens()])
        if floor >= fence.token:
            self.locks.raise_floor(fence.resource, floor)
            fence.token = self.locks.next_token(fence.resource)

    def resync(self, sku: str, fence: Fence, forget: list[str] | None = None) -> int:
        """Rewrite every reachable node's counter from the database (lock held)."""
        product, avail = self._database_available(sku)
        self.session.rollback()
        if product.fence_token >= fence.token:
            self.raise_floor(fence, Tally([]), product.fence_token)
        tally = self.write_counters(sku, fence, avail, forget=forget)
        if tally.count("stale"):
            self.raise_floor(fence, tally, product.fence_token)
            tally = self.write_counters(sku, fence, avail, forget=forget)
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
            if is_disconnect(error):
                raise DatabaseUnavailable() from error
            raise
