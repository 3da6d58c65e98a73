"""Combining: the orders for one product waiting in one process share a lock and a token.

Under a flash sale most of a sale's cost is winning the product's Redlock and taking a
fencing token, not the decrement itself. So in each process, the first request for a
product becomes the leader: when its process's turn to sell comes (SALES_AT_ONCE) and
it has won the product's lock, it sells every order for that product that has queued
up meanwhile in one batch (one lock, one token, one Lua call per node, one database
transaction). While it still
holds the lock, and for at most a short lease, it sells the next batch that queued
meanwhile under the same lock and token (see ``StockService._sell_batch``); then it
hands leadership to the next queued request, if any. With one request per process
(gunicorn sync workers) every batch holds one order and nothing changes.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .. import metrics

T = TypeVar("T")

MAX_BATCH = 64
# Batches a process sells at once, over all products. One: a process has one GIL and
# the database one writer, so two batches selling side by side only stretch each
# other's lock time, while a product whose batch waits for its turn gathers more orders
# into it. Measured with orders spread over 50 plans: 306-374 orders/s with no limit,
# 472-512 with three at once, 541-589 with two, 549-720 with one.
SALES_AT_ONCE = 1
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
    """One order's claim on stock, waiting to be sold in a batch."""

    qty: int
    order_key: str
    record: Callable[..., Any]
    result: Any = None
    error: BaseException | None = None
    settled: bool = False
    done: Signal = field(default_factory=Signal)
    lead: bool = False

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
        self._leading: set[str] = set()
        self._current: dict[str, list[Sale]] = {}  # the batch each leader is selling
        self._answered: dict[str, list[Sale]] = {}  # answered under a held lock, not yet woken
        self._turn = threading.BoundedSemaphore(SALES_AT_ONCE)
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

    def sell(self, sku: str, sale: Sale, sell_batch: Callable[[str, Callable[[], list[Sale]]], None]) -> Any:
        """Queue ``sale``; lead a batch if nobody leads this product; return its outcome.

        ``sell_batch(sku, take)`` calls ``take()`` once it holds the product's lock, for
        the batch to sell, and settles each of its sales (succeed or fail). The batch
        keeps growing until then: a hot plan's lock takes about as long to win as the
        other process's lease, and what queued meanwhile is sold in the same batch
        rather than in one more batch of the lease. If ``sell_batch`` fails before it
        took its batch, the sales that had queued when it was called fail with it, and
        those that queued later are left to the next leader."""
        with self._mutex:
            self._queues.setdefault(sku, []).append(sale)
            leads = sku not in self._leading
            if leads:
                self._leading.add(sku)
        if not leads:
            sale.done.wait()
            if not sale.lead:
                return sale.outcome()
            sale.lead = False
            sale.done.clear()
        waited = metrics.step_clock()
        self._turn.acquire()  # before taking the batch: it keeps growing while we wait
        waited.step("turn")
        with self._mutex:
            due = len(self._queues[sku])  # what a failure before take() fails
        try:
            sell_batch(sku, lambda: self._take(sku))
        except BaseException as error:  # noqa: BLE001 - every waiter must hear of it
            if sku not in self._current:  # failed before it took its batch
                self._take(sku, due)
            for waiting in self._current[sku]:
                if not waiting.settled:
                    waiting.fail(error)
        finally:
            self._turn.release()
            with self._mutex:
                batch = self._current.pop(sku)
            self._hand_over(sku)
            self._wake_answered(sku)  # a sell_batch that sold more() without holding()
            for waiting in batch:
                waiting.done.set()
        return sale.outcome()

    @contextlib.contextmanager
    def holding(self, sku: str, lock: contextlib.AbstractContextManager[T]) -> Iterator[T]:
        """Hold the product's ``lock`` for the ``with`` body. The sales answered meanwhile
        (:meth:`more`) are woken only once it has been let go of, that is once the
        lock's own exit (the release, waking the next holder) is over.

        A process has one GIL: a batch's responses written while the leader sells the
        next batch under the lock stretch the time the lock is held (measured: 1.55 ms
        of lock per order, against 0.83 ms when they wait), while the other processes,
        waiting for that lock, sit idle. Written after the lock is released, they
        overlap with another process's turn instead. Woken only then, each answered
        sale waits once (not once for its answer and again for the release)."""
        try:
            with lock as held:
                yield held
        finally:
            self._wake_answered(sku)

    def _wake_answered(self, sku: str) -> None:
        for waiting in self._answered.pop(sku, ()):
            waiting.done.set()

    def more(self, sku: str, done: list[Sale]) -> list[Sale]:
        """For a leader still holding the product's lock: set the ``done`` batch's
        waiters aside to be woken once the lock is let go of (see :meth:`holding`), and
        take the next batch that queued meanwhile (empty when none did)."""
        for waiting in done:
            if not waiting.settled:
                waiting.fail(RuntimeError("a batch ended without settling this sale"))
        self._answered.setdefault(sku, []).extend(done)  # only the product's leader gets here
        return self._take(sku)

    def _take(self, sku: str, most: int | None = None) -> list[Sale]:
        size = self.max_batch if most is None else min(most, self.max_batch)
        with self._mutex:
            queue = self._queues.get(sku, [])
            batch, self._queues[sku] = queue[:size], queue[size:]
            self._current[sku] = batch
        return batch

    def _hand_over(self, sku: str) -> None:
        with self._mutex:
            queue = self._queues.get(sku)
            if queue:
                queue[0].lead = True
                queue[0].done.set()
            else:
                self._queues.pop(sku, None)
                self._leading.discard(sku)
