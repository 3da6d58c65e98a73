"""Sold-out leases: a sold-out plan answered from memory, and nothing given back while
a process may still be answering from it (cardshop/stock/soldout.py)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
import redis

from cardshop import runtime
from cardshop.errors import SoldOut
from cardshop.extensions import db
from cardshop.stock import Combiner, Fence, SoldOutLeases, StockService, soldout
from cardshop.stock.combine import Sale
from cardshop.stock.selling import BatchSale
from tests.support import order_payload, sample


def nothing(session, product) -> None:  # type: ignore[no-untyped-def]
    return None


def process(stock: StockService, seconds: float) -> StockService:
    """Another process's stock service: the same nodes and database, its own memory."""
    return StockService(stock.nodes, db.session, stock.locks, combiner=Combiner(), leases=SoldOutLeases(seconds))


def commands(nodes) -> list[int]:  # type: ignore[no-untyped-def]
    """Commands each node has run (the INFO that asks counts as one)."""
    return [redis.Redis.from_url(url).info("stats")["total_commands_processed"] for url in nodes.urls]


def refused(stock: StockService, key: str) -> bool:
    try:
        stock.refuse_if_sold_out("HOT", 1, key)
    except SoldOut:
        return True
    return False


def test_a_sold_out_plan_is_answered_from_memory_until_its_lease_ends(app, nodes, make_product, stock) -> None:
    make_product("HOT", stock_total=1)
    stock.reserve("HOT", 1, "first", nothing)
    other = process(stock, 1.0)
    assert refused(other, "k-0")  # read from the nodes; they granted a lease
    granted = time.monotonic()
    before = commands(nodes)
    assert all(refused(other, f"k-{n}") for n in range(1, 50))
    after = commands(nodes)
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]  # only the INFO that asked
    time.sleep(max(0.0, granted + 1.05 - time.monotonic()))
    before = commands(nodes)
    assert refused(other, "k-50")
    assert sum(commands(nodes)) - sum(before) > 3  # the lease ended: read again


def test_no_lease_when_turned_off(app, nodes, make_product, stock) -> None:
    make_product("HOT", stock_total=0)
    other = process(stock, 0)
    assert refused(other, "k-0")
    before = commands(nodes)
    assert refused(other, "k-1")
    assert sum(commands(nodes)) - sum(before) > 3


def test_a_retry_of_the_order_that_bought_the_last_unit_gets_that_order(app, make_product, client) -> None:
    make_product("HOT", stock_total=1)
    runtime.runtime(app).leases.seconds = 5.0  # every answer below within one lease
    first = client.post("/api/orders", json=order_payload("HOT", 1), headers={"Idempotency-Key": "bought"})
    assert first.status_code == 201
    assert (
        client.post("/api/orders", json=order_payload("HOT", 2), headers={"Idempotency-Key": "late"}).status_code == 409
    )
    assert (
        client.post("/api/orders", json=order_payload("HOT", 3), headers={"Idempotency-Key": "later"}).status_code
        == 409
    )
    again = client.post("/api/orders", json=order_payload("HOT", 1), headers={"Idempotency-Key": "bought"})
    assert again.status_code == 200
    assert again.get_json()["order_no"] == first.get_json()["order_no"]


def test_a_restock_elsewhere_waits_out_the_lease_and_then_the_plan_sells(app, make_product, stock) -> None:
    make_product("HOT", stock_total=0)
    other = process(stock, 0.3)
    leases, waits = sample("cardshop_sold_out_leases_total"), sample("cardshop_stock_raise_waits_total")
    asked = time.monotonic()
    assert refused(other, "k-0")
    stock.restock("HOT", 5, actor="test")  # another process, as far as the leases go
    assert time.monotonic() - asked >= 0.3  # it could not raise the counters before the lease ended
    assert sample("cardshop_sold_out_leases_total") == leases + 1
    assert sample("cardshop_stock_raise_waits_total") == waits + 1
    assert not refused(other, "k-1")  # and once it returned, nobody answers "sold out"
    assert stock.counters(["HOT"]) == [[5], [5], [5]]


def test_a_crowd_of_sold_out_checks_does_not_hold_a_restock_back(app, make_product, stock, monkeypatch) -> None:
    make_product("HOT", stock_total=0)
    waits: list[float] = []
    clock = SimpleNamespace(
        monotonic=time.monotonic, sleep=lambda seconds: (waits.append(seconds), time.sleep(seconds))
    )
    monkeypatch.setattr(soldout, "time", clock)
    crowd = [process(stock, 0.1) for _ in range(3)]
    stop = threading.Event()
    answers: list[bool] = []

    def ask(service: StockService) -> None:
        n = 0
        while not stop.is_set():
            answers.append(refused(service, f"k-{id(service)}-{n}"))
            n += 1

    threads = [threading.Thread(target=ask, args=(service,)) for service in crowd]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)  # the crowd renews its leases every 0.1 s
        stock.restock("HOT", 5, actor="test")
        assert not any(refused(service, "after") for service in crowd)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert len(waits) == 1 and waits[0] <= 0.11  # one lease waited out: the rising flag stops new ones
    assert answers.count(True) > 10


def test_a_failed_write_after_the_last_unit_gives_it_back_once_the_lease_ends(app, make_product, stock) -> None:
    make_product("HOT", stock_total=1)
    fence = Fence(stock.locks.acquire("stock:HOT"), "stock:HOT", stock.locks.next_token("stock:HOT"))
    sale = BatchSale(stock, "HOT", [Sale(1, "doomed", nothing)])
    assert sale.take(fence)  # the last unit is reserved on the counters...
    other = process(stock, 0.3)
    asked = time.monotonic()
    assert refused(other, "k-0")  # ...another process sees the plan sold out...
    sale.undo(fence, sale.sales)  # ...and the database write failed: give it back
    assert time.monotonic() - asked >= 0.3
    assert stock.counters(["HOT"]) == [[1], [1], [1]]
    assert not refused(other, "k-1")


@pytest.mark.parametrize("seconds", [0.05])
def test_a_sale_after_the_lease_finds_what_was_given_back(app, make_product, stock, seconds: float) -> None:
    """Sold out, a release (as a cancelled order gives its card back), then a sale: the
    sale is never refused by a lease taken before the release."""
    make_product("HOT", stock_total=1)
    stock.reserve("HOT", 1, "first", nothing)
    stock.leases.seconds = seconds
    assert refused(stock, "k-0")
    stock.release("HOT", 1, actor="test")
    assert stock.reserve("HOT", 1, "second", lambda session, product: "sold") == "sold"


def test_one_thread_renews_a_lease_near_its_end_while_the_others_answer_from_it(app, make_product, stock) -> None:
    make_product("HOT", stock_total=0)
    leases = SoldOutLeases(1.0)
    leases.grant("HOT", time.monotonic() - 0.7, [], lambda index: None)  # 0.3 s left of 1 s
    assert not leases.refuses("HOT", "a")  # this caller reads the nodes again
    assert leases.refuses("HOT", "b") and leases.refuses("HOT", "c")  # the others need not
    leases.grant("HOT", time.monotonic(), [], lambda index: None)
    assert leases.refuses("HOT", "d")  # a fresh lease: nobody reads
