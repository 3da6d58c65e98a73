"""Threads of one process selling one product share a lock, a token and a transaction."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pottery.nextid
import pottery.redlock
from sqlalchemy import func, select

from cardshop.errors import SoldOut, StockUnavailable
from cardshop.extensions import db
from cardshop.models import Product, StockEntry
from cardshop.stock.combine import Combiner, Sale, Signal
from cardshop.stock.pool import NodeExecutor


def test_pottery_runs_on_the_shared_pool() -> None:
    """pottery is pinned; if an upgrade moves this seam, the stock path slows down a lot."""
    assert pottery.redlock.BailOutExecutor is NodeExecutor
    assert pottery.nextid.BailOutExecutor is NodeExecutor


def test_one_leader_sells_what_queued_meanwhile() -> None:
    combiner = Combiner()
    batches: list[list[str]] = []
    first_in = threading.Event()
    release = threading.Event()

    def sell(sku: str, take: Callable[[], list[Sale]]) -> None:
        sales = take()
        batches.append([s.order_key for s in sales])
        if len(batches) == 1:
            first_in.set()
            release.wait(5)
        for sale in sales:
            sale.succeed(sale.order_key.upper())

    results: dict[str, str] = {}

    def buy(key: str) -> None:
        results[key] = combiner.sell("P", Sale(1, key, lambda s, p: None), sell)

    leader = threading.Thread(target=buy, args=("a",))
    leader.start()
    first_in.wait(5)
    followers = [threading.Thread(target=buy, args=(key,)) for key in "bcd"]
    for thread in followers:
        thread.start()
    while len(combiner._queues.get("P", [])) < 3:
        pass
    release.set()
    for thread in [leader, *followers]:
        thread.join(5)
    assert batches == [["a"], ["b", "c", "d"]]
    assert results == {"a": "A", "b": "B", "c": "C", "d": "D"}


def _lead_then_queue(combiner: Combiner, sell, inside: threading.Event, go: threading.Event) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Order "a" (the leader), then, once its sell is ``inside``, "b" and "c" behind it;
    let it ``go`` once both have queued. Each order's result, or the error it raised."""
    results: dict[str, object] = {}

    def buy(key: str) -> None:
        try:
            results[key] = combiner.sell("P", Sale(1, key, lambda s, p: None), sell)
        except StockUnavailable as error:
            results[key] = error

    threads = [threading.Thread(target=buy, args=(key,)) for key in "abc"]
    threads[0].start()
    inside.wait(5)
    for thread in threads[1:]:
        thread.start()
    while len(combiner._queues.get("P", [])) < 3:
        time.sleep(0.001)
    go.set()
    for thread in threads:
        thread.join(5)
    return results


def test_what_queues_while_the_lock_is_won_joins_the_first_batch() -> None:
    """A hot plan's lock takes about as long to win as the other process's lease: the
    orders that queue meanwhile are sold in the batch the lock was won for."""
    combiner = Combiner()
    batches: list[list[str]] = []
    winning = threading.Event()
    won = threading.Event()

    def sell(sku: str, take: Callable[[], list[Sale]]) -> None:
        winning.set()
        won.wait(5)  # the lock is being won
        sales = take()
        batches.append([s.order_key for s in sales])
        for sale in sales:
            sale.succeed(sale.order_key.upper())

    results = _lead_then_queue(combiner, sell, winning, won)
    assert batches == [["a", "b", "c"]]
    assert results == {"a": "A", "b": "B", "c": "C"}


def test_a_lock_not_won_fails_only_what_queued_before_it_was_asked_for() -> None:
    """Orders that arrived while a leader waited in vain for the lock have waited less
    than the lock's wait: the next leader tries again for them."""
    combiner = Combiner()
    batches: list[list[str]] = []
    asking = threading.Event()
    give_up = threading.Event()

    def sell(sku: str, take: Callable[[], list[Sale]]) -> None:
        if not batches:
            batches.append([])
            asking.set()
            give_up.wait(5)
            raise StockUnavailable()
        sales = take()
        batches.append([s.order_key for s in sales])
        for sale in sales:
            sale.succeed(sale.order_key.upper())

    results = _lead_then_queue(combiner, sell, asking, give_up)
    assert isinstance(results.pop("a"), StockUnavailable)
    assert results == {"b": "B", "c": "C"}
    assert batches == [[], ["b", "c"]]


def test_threads_racing_in_one_process_sell_exactly_the_stock(app, make_product, stock) -> None:
    make_product("HOT", stock_total=15)
    outcomes: Counter[str] = Counter()
    guard = threading.Lock()
    start = threading.Barrier(32)

    def buy(n: int) -> None:
        with app.app_context():
            start.wait()
            for attempt in range(2):
                key = f"t-{n}-{attempt}"
                try:
                    db_stock = type(stock)(stock.nodes, db.session, stock.locks, combiner=stock.combiner)
                    db_stock.reserve("HOT", 1, key, lambda session, product: key)
                    outcome = "sold"
                except SoldOut:
                    outcome = "sold_out"
                with guard:
                    outcomes[outcome] += 1
            db.session.remove()

    threads = [threading.Thread(target=buy, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == {"sold": 15, "sold_out": 49}
    db.session.expire_all()
    assert db.session.scalar(select(Product.stock_sold)) == 15
    assert db.session.scalar(select(func.count(StockEntry.id)).where(StockEntry.kind == "sale")) == 15
    assert stock.counters(["HOT"]) == [[0], [0], [0]]


def test_an_answered_sale_returns_once_its_leader_lets_go_of_the_lock() -> None:
    """Answers are written after the lock is released, not while the leader still sells
    under it or releases it: the process's one GIL then serves the lock holder first."""
    combiner = Combiner()
    inside = threading.Event()
    events: list[str] = []

    @contextlib.contextmanager
    def lock() -> Iterator[None]:
        yield
        time.sleep(0.02)  # letting go takes round trips to the nodes
        events.append("released")

    def sell(sku: str, take: Callable[[], list[Sale]]) -> None:
        with combiner.holding(sku, lock()):
            sales = take()
            inside.set()
            while len(combiner._queues.get("P", [])) < 1:  # b queues behind the first batch
                time.sleep(0.001)
            for sale in sales:
                sale.succeed(sale.order_key)
            batch = combiner.more(sku, sales)  # the second batch, sold under the same lock
            for sale in batch:
                sale.succeed(sale.order_key)
            combiner.more(sku, batch)  # answered while the lock is still held...
            time.sleep(0.02)
            events.append("sold")  # ...and only now let go of

    def buy(key: str) -> None:
        combiner.sell("P", Sale(1, key, lambda s, p: None), sell)
        events.append(f"returned {key}")

    leader = threading.Thread(target=buy, args=("a",))
    leader.start()
    inside.wait(5)
    follower = threading.Thread(target=buy, args=("b",))
    follower.start()
    for thread in (leader, follower):
        thread.join(5)
    assert events.index("released") < events.index("returned b")


def test_a_sale_signal_wakes_its_waiter_and_stays_raised() -> None:
    signal = Signal()
    assert not signal.is_set()
    woke = threading.Event()

    def waiter() -> None:
        signal.wait()
        woke.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    assert not woke.wait(0.1)  # not raised yet: the waiter waits
    signal.set()
    signal.set()  # raising it twice is harmless
    assert woke.wait(5)
    thread.join(5)
    signal.wait()  # stays raised for a later wait
    assert signal.is_set()
    signal.clear()
    assert not signal.is_set()
    signal.clear()  # lowering it twice as well
    assert not signal.is_set()


def test_sales_answered_by_a_batch_that_holds_no_lock_are_woken_at_its_end() -> None:
    """more() sets its answered sales aside for the lock's release; a sell_batch that
    holds no lock through holding() still wakes them, when it returns."""
    combiner = Combiner()
    waiting = Sale(1, "b", lambda s, p: None)  # queued behind the leader's batch

    def sell(sku: str, take: Callable[[], list[Sale]]) -> None:
        sales = take()
        combiner._queues[sku].append(waiting)
        for sale in sales:
            sale.succeed(sale.order_key)
        batch = combiner.more(sku, sales)
        assert batch == [waiting]
        waiting.succeed("b")
        assert combiner.more(sku, batch) == []
        assert not waiting.done.is_set()  # answered, set aside

    assert combiner.sell("P", Sale(1, "a", lambda s, p: None), sell) == "a"
    assert waiting.done.is_set() and waiting.outcome() == "b"
    assert not combiner._answered
