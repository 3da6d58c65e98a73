"""Threads of one process selling one product share a lock, a token and a transaction."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pottery.nextid
import pottery.redlock
import pytest
from sqlalchemy import func, select

from cardshop.errors import SoldOut, StockUnavailable
from cardshop.extensions import db
from cardshop.models import Product, StockEntry
from cardshop.stock.combine import Check, Combiner, Sale, Signal
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

    def sell(sku: str, sales: list[Sale]) -> None:
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

    def sell(sku: str, sales: list[Sale]) -> None:
        with combiner.holding(sku, lock()):
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


def test_checks_queued_during_a_read_share_the_next_one() -> None:
    """A check never takes an answer from a read that began before it was queued: the
    checks that queue while one read is under way are settled together by the next."""
    combiner = Combiner()
    reads: list[list[str]] = []
    first_in = threading.Event()
    release = threading.Event()

    def read(sku: str, checks: list[Check]) -> None:
        reads.append([check.order_key for check in checks])
        if len(reads) == 1:
            first_in.set()
            release.wait(5)
        for check in checks:
            if check.order_key == "sold-before":
                check.passed()
            else:
                check.fail(SoldOut())

    outcomes: dict[str, str] = {}

    def ask(key: str) -> None:
        try:
            combiner.check("P", Check(1, key), read)
            outcomes[key] = "passed"
        except SoldOut:
            outcomes[key] = "sold_out"

    leader = threading.Thread(target=ask, args=("a",))
    leader.start()
    first_in.wait(5)
    followers = [threading.Thread(target=ask, args=(key,)) for key in ("b", "sold-before", "c")]
    for thread in followers:
        thread.start()
    while len(combiner._checks.get("P", [])) < 3:
        time.sleep(0.001)
    release.set()
    for thread in [leader, *followers]:
        thread.join(5)
    assert reads == [["a"], ["b", "sold-before", "c"]]
    assert outcomes == {"a": "sold_out", "b": "sold_out", "sold-before": "passed", "c": "sold_out"}
    assert not combiner._checks and not combiner._checking


def test_a_failed_read_fails_every_check_it_was_for() -> None:
    combiner = Combiner()

    def read(sku: str, checks: list[Check]) -> None:
        raise StockUnavailable()

    with pytest.raises(StockUnavailable):
        combiner.check("P", Check(1, "a"), read)
    assert not combiner._checking  # the next check leads a read of its own
    with pytest.raises(StockUnavailable):
        combiner.check("P", Check(1, "b"), read)


def test_one_read_of_the_nodes_settles_each_check_by_its_own_marker(app, make_product, stock) -> None:
    """Sold out for the new keys, but the replay of an order that was sold goes on (to
    find its order), and a check for fewer units than are left goes on too."""
    make_product("LAST", stock_total=3)
    stock.reserve("LAST", 2, "sold-before", lambda session, product: None)
    stock.combiner._left.clear()  # no hint: the check reads the nodes
    calls: list[list[str]] = []
    run_script = stock.nodes.run_script

    def counted(name, keys, args, **options):  # type: ignore[no-untyped-def]
        calls.append(list(keys))
        return run_script(name, keys, args, **options)

    stock.nodes.run_script = counted  # type: ignore[method-assign]
    checks = [Check(2, "new-1"), Check(2, "sold-before"), Check(1, "new-2"), Check(5, "new-3")]
    stock._read_checks("LAST", checks)
    assert len(calls) == 1 and len(calls[0]) == 5  # the counter and four markers, in one call
    assert [type(check.error).__name__ if check.error else "passed" for check in checks] == [
        "SoldOut",
        "passed",
        "passed",
        "SoldOut",
    ]
