"""Threads of one process selling one product share a lock, a token and a transaction."""

from __future__ import annotations

import threading
import time
from collections import Counter

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


def _settle(sales: list[Sale]) -> list[str]:
    for sale in sales:
        sale.succeed(sale.order_key.upper())
    return [sale.order_key for sale in sales]


def test_one_seller_sells_what_queued_meanwhile_for_every_product() -> None:
    combiner = Combiner()
    rounds: list[dict[str, list[str]]] = []
    first_in = threading.Event()
    release = threading.Event()

    def sell_round() -> None:
        batches = {sku: combiner.take(sku) for sku in combiner.queued()}
        if not rounds:
            first_in.set()
            release.wait(5)
        rounds.append({sku: _settle(sales) for sku, sales in batches.items()})

    results: dict[str, str] = {}

    def buy(sku: str, key: str) -> None:
        results[key] = combiner.sell(sku, Sale(1, key, lambda s, p: None), sell_round)

    seller = threading.Thread(target=buy, args=("P", "a"))
    seller.start()
    first_in.wait(5)
    followers = [threading.Thread(target=buy, args=args) for args in (("P", "b"), ("Q", "c"), ("P", "d"))]
    for queued, thread in enumerate(followers, start=1):
        thread.start()
        while sum(len(queue) for queue in combiner._queues.values()) < queued:
            time.sleep(0.001)  # queued in this order
    release.set()
    for thread in [seller, *followers]:
        thread.join(5)
    assert rounds == [{"P": ["a"]}, {"P": ["b", "d"], "Q": ["c"]}]
    assert results == {"a": "A", "b": "B", "c": "C", "d": "D"}
    assert not combiner._selling and not combiner._queues


def _sell_then_queue(combiner: Combiner, sell_round, inside: threading.Event, go: threading.Event) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Order "a" (the seller), then, once its round is ``inside``, "b" and "c" behind it;
    let it ``go`` once both have queued. Each order's result, or the error it raised."""
    results: dict[str, object] = {}

    def buy(key: str) -> None:
        try:
            results[key] = combiner.sell("P", Sale(1, key, lambda s, p: None), sell_round)
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


def test_what_queues_while_the_locks_are_won_joins_the_round() -> None:
    """A hot plan's lock takes about as long to win as the other process's lease: the
    orders that queue meanwhile are sold in the batch the lock was won for."""
    combiner = Combiner()
    batches: list[list[str]] = []
    winning = threading.Event()
    won = threading.Event()

    def sell_round() -> None:
        winning.set()
        won.wait(5)  # the locks are being won
        batches.append(_settle(combiner.take("P")))

    results = _sell_then_queue(combiner, sell_round, winning, won)
    assert batches == [["a", "b", "c"]]
    assert results == {"a": "A", "b": "B", "c": "C"}


def test_a_lock_not_won_fails_only_what_queued_before_it_was_asked_for() -> None:
    """Orders that arrived while a round waited in vain for the lock have waited less
    than the lock's wait: the next round tries again for them."""
    combiner = Combiner()
    batches: list[list[str]] = []
    asking = threading.Event()
    give_up = threading.Event()

    def sell_round() -> None:
        if not batches:
            batches.append([])
            asked = time.monotonic()
            asking.set()
            give_up.wait(5)
            combiner.fail_queued("P", StockUnavailable(), before=asked)
            return
        batches.append(_settle(combiner.take("P")))

    results = _sell_then_queue(combiner, sell_round, asking, give_up)
    assert isinstance(results.pop("a"), StockUnavailable)
    assert results == {"b": "B", "c": "C"}
    assert batches == [[], ["b", "c"]]


def test_a_round_that_raises_fails_what_it_took_and_leaves_the_rest_queued() -> None:
    combiner = Combiner()
    a, b = Sale(1, "a", lambda s, p: None), Sale(1, "b", lambda s, p: None)

    def sell_round() -> None:
        combiner.take("P")
        raise StockUnavailable()

    combiner.sell_all({"P": [a]}, sell_round)
    assert isinstance(a.error, StockUnavailable) and a.done.is_set()

    def sell_p_only() -> None:
        _settle(combiner.take("P"))

    combiner.sell_all({"P": [b]}, sell_p_only)
    assert b.outcome() == "B" and not combiner._selling


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


def test_an_answered_sale_returns_once_its_round_lets_go_of_the_locks() -> None:
    """Answers are written after the round's locks are let go of, not while the seller
    still sells under them or releases them: the process's one GIL serves the seller first."""
    combiner = Combiner()
    inside = threading.Event()
    events: list[str] = []

    def sell_round() -> None:
        sales = combiner.take("P")
        inside.set()
        while not combiner._queues.get("P"):  # b queues behind the first batch
            time.sleep(0.001)
        _settle(sales)
        _settle(combiner.take("P"))  # the second batch, sold under the same lock
        time.sleep(0.02)  # letting go takes a round trip to the nodes
        events.append("released")

    def buy(key: str) -> None:
        combiner.sell("P", Sale(1, key, lambda s, p: None), sell_round)
        events.append(f"returned {key}")

    seller = threading.Thread(target=buy, args=("a",))
    seller.start()
    inside.wait(5)
    follower = threading.Thread(target=buy, args=("b",))
    follower.start()
    for thread in (seller, follower):
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


def _counting(stock, name: str) -> list[int]:  # type: ignore[no-untyped-def]
    """Count the calls of the stock's nodes' ``name`` (a fan-out method) from now on."""
    calls: list[int] = []
    original = getattr(stock.nodes, name)

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(*args, **kwargs)

    setattr(stock.nodes, name, counted)
    return calls


def _sales(*keys: str) -> list[Sale]:
    return [Sale(1, key, lambda session, product, key=key: key) for key in keys]


def test_a_round_sells_many_products_with_one_round_trip_a_step_and_one_transaction(app, make_product, stock) -> None:
    skus = [f"R-{i}" for i in range(6)]
    for sku in skus:
        make_product(sku, stock_total=3)
    batches = {sku: _sales(*(f"{sku}-{key}" for key in ("ab" if i % 2 else "abcd"))) for i, sku in enumerate(skus)}
    commits: list[int] = []
    from sqlalchemy import event

    event.listen(db.session.get_bind(), "commit", lambda connection: commits.append(1))
    pipelined = _counting(stock, "send_many")
    single = _counting(stock, "run_script")
    stock.combiner.sell_all(batches, stock._sell_round)
    assert len(pipelined) == 3  # take the locks; draw the tokens and reserve; let go
    assert single == [] and len(commits) == 1
    for i, sku in enumerate(skus):
        outcomes = [sale.error or sale.result for sale in batches[sku]]
        if i % 2:
            assert outcomes == [f"{sku}-a", f"{sku}-b"]
        else:  # three in stock: the fourth is refused, by the nodes
            assert outcomes[:3] == [f"{sku}-a", f"{sku}-b", f"{sku}-c"] and isinstance(outcomes[3], SoldOut)
    db.session.expire_all()
    sold = dict(db.session.execute(select(Product.sku, Product.stock_sold)).all())
    assert sold == {sku: 2 if i % 2 else 3 for i, sku in enumerate(skus)}
    assert stock.counters(skus) == [[1 if i % 2 else 0 for i in range(6)]] * 3
    assert db.session.scalar(select(func.count(StockEntry.id)).where(StockEntry.kind == "sale")) == 15


def test_a_product_locked_elsewhere_does_not_hold_up_the_others(app, make_product, stock) -> None:
    for sku in ("A", "B", "C"):
        make_product(sku, stock_total=5)
    held = stock.locks.acquire("stock:B")  # another process sells B
    a, b, c = _sales("a"), _sales("b"), _sales("c")
    now = time.monotonic()
    for sku, sales in (("A", a), ("B", b), ("C", c)):
        for sale in sales:
            sale.queued_at = now
        stock.combiner._queues[sku] = list(sales)
    stock.combiner._selling = True
    stock.combiner._sell_one(stock._sell_round, hand_over=False)
    assert a[0].result == "a" and c[0].result == "c"
    assert not b[0].settled and stock.combiner.queued() == ["B"]  # left for the next round
    stock.locks.let_go("stock:B", held)
    stock.combiner._sell_one(stock._sell_round)
    assert b[0].result == "b" and not stock.combiner._selling
    assert stock.counters(["A", "B", "C"]) == [[4, 4, 4]] * 3


def test_orders_that_waited_longer_than_the_lock_wait_fail_busy(app, make_product, stock) -> None:
    from cardshop.errors import Busy

    for sku in ("A", "B"):
        make_product(sku, stock_total=5)
    held = stock.locks.acquire("stock:B")
    old, fresh = _sales("o"), _sales("f")
    old[0].queued_at = time.monotonic() - stock.locks.wait - 1
    fresh[0].queued_at = time.monotonic()
    stock.combiner._queues.update({"B": [*old], "A": [*fresh]})
    stock.combiner._selling = True
    stock.combiner._sell_one(stock._sell_round, hand_over=False)  # B first, alone: it waited longest
    assert isinstance(old[0].error, Busy) and not fresh[0].settled
    stock.combiner._sell_one(stock._sell_round)
    assert fresh[0].result == "f"
    stock.locks.let_go("stock:B", held)


def test_one_person_ordering_two_plans_of_a_carrier_in_one_round_gets_one(app, make_product, stock) -> None:
    """The risk rules see a round's orders of every product as if placed one by one:
    one order per ID number per carrier, whichever plans the orders are for."""
    from datetime import UTC, datetime

    from cardshop.errors import RiskRefused
    from cardshop.services import order_input
    from cardshop.services.orders import OrderWriter
    from cardshop.services.risk import RiskRules

    from .support import order_payload

    make_product("A", stock_total=5, carrier="cmcc")
    make_product("B", stock_total=5, carrier="cmcc")
    make_product("C", stock_total=5, carrier="unicom")
    rules = RiskRules()

    def writer(sku: str, key: str, person: int) -> Sale:
        order = order_input.parse(order_payload(sku, person), max_qty=5)
        return Sale(1, key, OrderWriter(order, key, (None, None), datetime.now(UTC), rules))

    batches = {"A": [writer("A", "a", 7)], "B": [writer("B", "b", 7), writer("B", "b2", 8)], "C": [writer("C", "c", 7)]}
    stock.combiner.sell_all(batches, stock._sell_round)
    assert batches["A"][0].error is None and batches["C"][0].error is None  # another carrier: fine
    assert isinstance(batches["B"][0].error, RiskRefused) and batches["B"][1].error is None
    db.session.expire_all()
    assert dict(db.session.execute(select(Product.sku, Product.stock_sold)).all()) == {"A": 1, "B": 1, "C": 1}
    assert stock.counters(["A", "B", "C"]) == [[4, 4, 4]] * 3


def test_a_token_drawn_by_another_meanwhile_is_not_used(app, make_product, stock) -> None:
    """A round draws each plan's token in the same round trip as its reserve.lua. If a
    majority did not apply that NextID write (someone drew the same token meanwhile:
    a holder paused past its lock), what reserve.lua took under it is given back, and
    the batch is sold again under a token drawn the usual way."""
    from cardshop.stock.locks import fence_key

    make_product("A", stock_total=5)
    drawing = stock.locks.drawing
    taken_meanwhile: list[int] = []

    def drawn_meanwhile(fence):  # type: ignore[no-untyped-def]
        stock.nodes.fanout(lambda client: client.set(fence_key(fence.resource), fence.token))
        taken_meanwhile.append(fence.token)
        return drawing(fence)

    stock.locks.drawing = drawn_meanwhile
    try:
        sales = _sales("a", "b")
        stock.combiner.sell_all({"A": sales}, stock._sell_round)
    finally:
        del stock.locks.drawing
    assert [sale.result for sale in sales] == ["a", "b"]
    db.session.expire_all()
    product = db.session.scalars(select(Product).where(Product.sku == "A")).one()
    assert product.stock_sold == 2 and product.fence_token > taken_meanwhile[0]
    assert stock.counters(["A"]) == [[3]] * 3  # taken once: the first reservation was given back


def test_a_plan_that_waited_long_is_taken_first_and_the_round_still_sells_the_others(app, make_product, stock) -> None:
    """A plan whose orders waited several leases (its lock lost to another process
    round after round) has its lock waited for first; the round then tries the others
    as usual, rather than selling that plan alone (which let a slow moment cascade)."""
    from cardshop.stock.service import ALONE_AFTER

    for sku in ("A", "B", "C"):
        make_product(sku, stock_total=5)
    old, b, c = _sales("old"), _sales("b"), _sales("c")
    now = time.monotonic()
    old[0].queued_at = now - 2 * ALONE_AFTER * stock.lease
    b[0].queued_at = c[0].queued_at = now
    stock.combiner._queues.update({"A": [*old], "B": [*b], "C": [*c]})
    stock.combiner._selling = True
    stock.combiner._sell_one(stock._sell_round)
    assert [old[0].result, b[0].result, c[0].result] == ["old", "b", "c"]
    assert stock.counters(["A", "B", "C"]) == [[4, 4, 4]] * 3
