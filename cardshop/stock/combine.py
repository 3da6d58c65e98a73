"""Combining: the orders waiting in one process share locks, tokens and a transaction.

Under a flash sale most of a sale's cost is winning a product's Redlock, drawing a
fencing token and the database transaction, not the decrement itself. So in each
process one thread at a time sells (the *seller*): the first request to arrive when
nobody sells, then, in turn, the request that has waited longest. A seller sells a
*round*: the orders of every product that queued up meanwhile, each product's as one
batch (one lock, one token, one reserve.lua, one set of rows), and all products'
together: their locks taken in one round trip to the nodes, their tokens drawn and
their reserve.lua calls sent in one, their rows written in one database transaction and
their locks let go of in one (``StockService._sell_round``). A round that holds a single
product's lock keeps it for a short lease, selling the batches that queue meanwhile
under the same lock and token: a hot product's lock changes hands between processes
once per lease, not once per batch. Orders answered by a round are woken once its locks
are let go of. With one request per process (gunicorn sync workers) every round sells
one order and nothing changes.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import metrics

MAX_BATCH = 64  # orders of one product in one batch
MAX_PLANS = 64  # products in one round
# How long what a batch saw left may spare later requests the sold-out check. Skipping
# the check is always safe (the batch decides), and a hint gone stale costs one batch
# at most: a plan another process sold out meanwhile is found short by that batch,
# which notes what is left and so ends the hint. A plan that sells a few orders a
# second per process (a spread sale) would otherwise pay the check's two node reads
# on nearly every order.
HINT_SECONDS = 10.0


class Signal:
    """A flag one thread waits for and others raise: :class:`threading.Event`'s
    ``set``, ``clear`` and ``wait`` for a single waiter, on one lock that is held while
    the flag is down. Every order has one; an Event builds a Condition and a waiter
    lock for each wait, a few times the cost, under the GIL the selling thread needs."""

    __slots__ = ("_down",)

    def __init__(self) -> None:
        self._down = threading.Lock()
        self._down.acquire()

    def set(self) -> None:
        with contextlib.suppress(RuntimeError):  # raised already
            self._down.release()

    def clear(self) -> None:
        self._down.acquire(blocking=False)

    def is_set(self) -> bool:
        return not self._down.locked()

    def wait(self) -> None:
        with self._down:  # taken once raised, and handed straight back: it stays raised
            pass


@dataclass(eq=False)
class Sale:
    """One order's claim on stock, waiting to be sold in a round."""

    qty: int
    order_key: str
    record: Callable[..., Any]
    result: Any = None
    error: BaseException | None = None
    settled: bool = False
    done: Signal = field(default_factory=Signal)
    sells: bool = False  # woken to be the process's next seller, not with an outcome
    queued_at: float = 0.0

    def succeed(self, result: Any) -> None:
        self.result, self.settled = result, True

    def fail(self, error: BaseException) -> None:
        self.error, self.settled = error, True

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class Combiner:
    def __init__(self, max_batch: int = MAX_BATCH) -> None:
        self.max_batch = max_batch
        self._mutex = threading.Lock()
        self._queues: dict[str, list[Sale]] = {}
        self._selling = False
        self._round: list[Sale] = []  # taken (or failed) by the round being sold
        self._left: dict[str, tuple[int, float]] = {}

    def note_left(self, sku: str, avail: int) -> None:
        """Remember what the nodes agreed is left after a batch."""
        self._left[sku] = (avail, time.monotonic())

    def left(self, sku: str) -> int | None:
        """What a batch of this process saw left less than HINT_SECONDS ago, if any."""
        seen = self._left.get(sku)
        if seen is None or time.monotonic() - seen[1] > HINT_SECONDS:
            return None
        return seen[0]

    def sell(self, sku: str, sale: Sale, sell_round: Callable[[], None]) -> Any:
        """Queue ``sale``; sell rounds while this thread is the seller; return its outcome.

        ``sell_round()`` takes what it sells with :meth:`take` (and may fail what waited
        too long with :meth:`fail_queued`), and settles each sale it took. If it raises,
        the sales it took and did not settle fail with its error; sales it did not take
        stay queued for the next round. After a round the seller hands its turn to the
        request that has waited longest, and returns once its own sale is settled."""
        sale.queued_at = time.monotonic()
        waited = metrics.step_clock()  # until this thread's turn to sell, if it comes
        with self._mutex:
            self._queues.setdefault(sku, []).append(sale)
            sells = not self._selling
            self._selling = True
        while True:
            if not sells:
                sale.done.wait()
                if not sale.sells:
                    return sale.outcome()
                sale.sells = False
                sale.done.clear()
            waited.step("turn")
            self._sell_one(sell_round)
            if sale.settled:
                return sale.outcome()
            sells = False

    def sell_all(self, batches: dict[str, list[Sale]], sell_round: Callable[[], None]) -> None:
        """Queue these sales and sell rounds in this thread until each is settled: a
        benchmark's or a test's orders, sold without a thread for each. Raises
        RuntimeError if another thread is selling."""
        now = time.monotonic()
        with self._mutex:
            if self._selling:
                raise RuntimeError("another thread is selling")
            self._selling = True
            for sku, sales in batches.items():
                for sale in sales:
                    sale.queued_at = now
                self._queues.setdefault(sku, []).extend(sales)
        try:
            while not all(sale.settled for sales in batches.values() for sale in sales):
                self._sell_one(sell_round, hand_over=False)
        finally:
            self._hand_over()

    def _sell_one(self, sell_round: Callable[[], None], *, hand_over: bool = True) -> None:
        """One round: settle what it took and left unsettled, name the next seller, and
        wake the round's sales (its locks are let go of by then)."""
        try:
            sell_round()
            error: BaseException = RuntimeError("a round ended without settling this sale")
        except BaseException as raised:  # noqa: BLE001 - every waiter must hear of it
            error = raised
        finally:
            with self._mutex:
                sold, self._round = self._round, []
            for waiting in sold:
                if not waiting.settled:
                    waiting.fail(error)
            if hand_over:
                self._hand_over()
            for waiting in sold:
                waiting.done.set()

    def queued(self) -> list[str]:
        """The products with sales queued, the one whose first sale waited longest first."""
        with self._mutex:
            waiting = [(queue[0].queued_at, sku) for sku, queue in self._queues.items() if queue]
        return [sku for _, sku in sorted(waiting)]

    def oldest(self, sku: str) -> float | None:
        """When the longest-waiting sale queued for ``sku`` was queued, if any is."""
        with self._mutex:
            queue = self._queues.get(sku)
            return queue[0].queued_at if queue else None

    def take(self, sku: str, most: int | None = None) -> list[Sale]:
        """The next batch of ``sku`` for the round being sold (first come, first taken)."""
        size = self.max_batch if most is None else min(most, self.max_batch)
        with self._mutex:
            queue = self._queues.get(sku, [])
            batch, self._queues[sku] = queue[:size], queue[size:]
            self._round.extend(batch)
        return batch

    def fail_queued(self, sku: str, error: BaseException, before: float) -> None:
        """Fail the sales of ``sku`` queued before ``before`` (monotonic time) with
        ``error``: its lock was not won in time, or could not be asked for. They are
        woken with the round's sales; those queued later stay for the next round."""
        with self._mutex:
            queue = self._queues.get(sku, [])
            failed = [waiting for waiting in queue if waiting.queued_at <= before]
            self._queues[sku] = [waiting for waiting in queue if waiting.queued_at > before]
            self._round.extend(failed)
        for waiting in failed:
            waiting.fail(error)

    def _hand_over(self) -> None:
        """Make the request waiting longest the next seller, or end the selling."""
        with self._mutex:
            for sku in [sku for sku, queue in self._queues.items() if not queue]:
                del self._queues[sku]
            heads = [queue[0] for queue in self._queues.values()]
            if not heads:
                self._selling = False
                return
            following = min(heads, key=lambda waiting: waiting.queued_at)
            following.sells = True
        following.done.set()
