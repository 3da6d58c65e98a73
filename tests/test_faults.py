"""Fault drills: Redis nodes killed, hung, restarted empty; a lock holder paused past
its lock; the database write failing; a gunicorn worker killed mid-request."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from cardshop.errors import Busy, DatabaseUnavailable
from cardshop.extensions import db
from cardshop.models import Order, Product, StockEntry
from cardshop.services import order_input
from cardshop.services.orders import OrderWriter
from cardshop.services.risk import RiskRules
from cardshop.stock.combine import Sale
from cardshop.stock.locks import Fence
from cardshop.stock.selling import BatchSale, GuardRefused, marker_key

from .support import ROOT, order_payload
from .test_gunicorn_race import hammer, sold_per_plan

pytestmark = [pytest.mark.slow]


def sold(sku: str) -> int:
    db.session.expire_all()
    return int(db.session.scalar(select(Product.stock_sold).where(Product.sku == sku)) or 0)


def orders() -> int:
    return int(db.session.scalar(select(func.count(Order.id))) or 0)


def order(url: str, sku: str, n: int) -> requests.Response:
    return requests.post(
        f"{url}/api/orders", json=order_payload(sku, n), headers={"Idempotency-Key": f"f-{n}"}, timeout=30
    )


@pytest.mark.gunicorn
def test_selling_goes_on_when_a_node_is_killed_mid_race(serve, make_product, stock, nodes) -> None:
    make_product("HOT", stock_total=40)
    server = serve(workers=4)
    killer = threading.Timer(0.3, nodes.nodes[0].kill)
    killer.start()
    codes, _ = hammer(server.url, "HOT", 32, 10)
    killer.join()
    assert codes[201] == 40, codes
    assert sold("HOT") == orders() == 40
    assert stock.counters(["HOT"])[1:] == [[0], [0]]


@pytest.mark.gunicorn
def test_a_hung_node_costs_each_request_at_most_its_socket_timeout(serve, make_product, stock, nodes, app) -> None:
    make_product("HOT", stock_total=20)
    server = serve(workers=2)
    order(server.url, "HOT", 0)  # warm the workers' connections
    nodes.nodes[2].pause()
    try:
        budget = app.config["REDIS_SOCKET_TIMEOUT"] + 1.0  # the socket timeout plus a margin
        took = []
        for n in range(1, 9):
            began = time.perf_counter()
            response = order(server.url, "HOT", n)
            took.append(time.perf_counter() - began)
            assert response.status_code == 201, response.text
        assert max(took) < budget, took
    finally:
        nodes.nodes[2].resume()
    assert sold("HOT") == 9
    # The resumed node missed the writes; the next sale notices and repairs it.
    assert order(server.url, "HOT", 9).status_code == 201
    assert stock.counters(["HOT"]) == [[10], [10], [10]]


@pytest.mark.gunicorn
@pytest.mark.parametrize("fault", ["kill", "pause"])
def test_two_nodes_down_refuse_fast_and_browsing_still_works(serve, make_product, nodes, fault) -> None:
    make_product("HOT", stock_total=5)
    server = serve(workers=2)
    for node in nodes.nodes[:2]:
        getattr(node, fault)()
    try:
        began = time.perf_counter()
        response = order(server.url, "HOT", 1)
        took = time.perf_counter() - began
        assert response.status_code == 503
        assert response.json()["error"] == "stock_unavailable"
        assert response.headers["Retry-After"]
        assert took < 1.0, took
        assert requests.get(f"{server.url}/readyz", timeout=5).status_code == 503
        catalogue = requests.get(f"{server.url}/api/products", timeout=5)
        assert catalogue.status_code == 200
        assert catalogue.json()["products"][0]["stock_live"] is False
        assert requests.get(f"{server.url}/api/products/HOT", timeout=5).status_code == 200
    finally:
        for node in nodes.nodes[:2]:
            node.resume()
    assert sold("HOT") == orders() == 0


def test_a_node_restarted_empty_is_repaired_without_oversell(app, make_product, stock, nodes, client) -> None:
    make_product("HOT", stock_total=6)
    for n in range(3):
        assert (
            client.post("/api/orders", json=order_payload("HOT", n), headers={"Idempotency-Key": str(n)}).status_code
            == 201
        )
    nodes.nodes[1].restart()
    assert stock.counters(["HOT"]) == [[3], [None], [3]]
    codes = [
        client.post("/api/orders", json=order_payload("HOT", n), headers={"Idempotency-Key": str(n)}).status_code
        for n in range(3, 10)
    ]
    assert codes == [201, 201, 201, 409, 409, 409, 409]
    assert sold("HOT") == orders() == 6
    assert stock.counters(["HOT"]) == [[0], [0], [0]]


def test_two_nodes_restarted_empty_are_rebuilt_from_the_database(app, make_product, stock, nodes, client) -> None:
    make_product("HOT", stock_total=4)
    assert client.post("/api/orders", json=order_payload("HOT", 0), headers={"Idempotency-Key": "0"}).status_code == 201
    nodes.nodes[0].restart()
    nodes.nodes[1].restart()  # the fencing sequence lost its majority too
    for n in range(1, 6):
        client.post("/api/orders", json=order_payload("HOT", n), headers={"Idempotency-Key": str(n)})
    assert sold("HOT") == orders() == 4
    assert stock.counters(["HOT"]) == [[0], [0], [0]]


def test_a_paused_lock_holder_is_refused_by_the_fence(app, make_product, stock) -> None:
    """The steps of a sale, with holder A paused past its lock's expiry in between."""
    make_product("HOT", stock_total=2)
    stock.locks.ttl = 0.3
    fence_a = Fence(stock.locks.acquire("stock:HOT"), "stock:HOT", stock.locks.next_token("stock:HOT"))
    sale_a = BatchSale(stock, "HOT", [Sale(1, "order-a", lambda session, product: "a")])
    assert sale_a.take(fence_a)  # A reserved on the counters...
    time.sleep(0.5)  # ...then paused (GC, swap, SIGSTOP) until its lock expired

    stock.reserve("HOT", 1, "order-b", lambda session, product: None)  # B sells meanwhile
    stock.locks.ttl = 5.0

    with pytest.raises(GuardRefused) as refused:
        sale_a.write_rows(sale_a.sales, fence_a)  # the database refuses A's old fence
    assert refused.value.stale
    late = BatchSale(stock, "HOT", [Sale(1, "order-a2", lambda session, product: "a2")])
    with pytest.raises(Busy):
        late.take(fence_a)  # and so do the nodes
    assert sold("HOT") == 1
    # A's reservation leaked on the counters (an undersell); reconcile gives it back (I4).
    stock.reconcile()
    assert stock.counters(["HOT"]) == [[1], [1], [1]]


def test_a_failed_database_write_gives_the_stock_back(app, make_product, stock) -> None:
    make_product("HOT", stock_total=3)

    def write_fails(session, product):  # type: ignore[no-untyped-def]
        session.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(DBAPIError, match="no_such_table"):
        stock.reserve("HOT", 2, "doomed", write_fails)
    assert sold("HOT") == 0
    assert stock.counters(["HOT"]) == [[3], [3], [3]]
    stock.reserve("HOT", 3, "fine", lambda session, product: None)
    assert sold("HOT") == 3


def test_a_failed_order_insert_through_the_api_is_503_and_gives_back(app, make_product, stock, client) -> None:
    make_product("HOT", stock_total=3)
    with refusing_order_inserts():
        response = client.post("/api/orders", json=order_payload("HOT"), headers={"Idempotency-Key": "x"})
    assert response.status_code == 503
    assert sold("HOT") == orders() == 0
    assert stock.counters(["HOT"]) == [[3], [3], [3]]


@contextlib.contextmanager
def refusing_order_inserts():  # type: ignore[no-untyped-def]
    """A trigger that fails every order insert, as a full disk or a broken replica would."""
    if db.engine.dialect.name == "sqlite":
        create = ["CREATE TRIGGER refuse BEFORE INSERT ON orders BEGIN SELECT RAISE(FAIL, 'disk full'); END"]
        drop = ["DROP TRIGGER refuse"]
    else:
        create = [
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION refuse()",
        ]
        drop = ["DROP TRIGGER refuse ON orders", "DROP FUNCTION refuse()"]
    for statement in create:
        db.session.execute(text(statement))
    db.session.commit()
    try:
        yield
    finally:
        db.session.rollback()
        for statement in drop:
            db.session.execute(text(statement))
        db.session.commit()


@contextlib.contextmanager
def database_writes_blocked(database_url: str):  # type: ignore[no-untyped-def]
    """Hold the product row's write lock so sales stop between the counters and the database."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
    else:
        engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as conn:
            conn.execute(text("SELECT id FROM products FOR UPDATE"))
            yield
            conn.rollback()
        engine.dispose()


@pytest.mark.gunicorn
def test_a_worker_killed_mid_request_leaks_nothing_after_reconcile(
    serve, make_product, stock, database_url, gunicorn_env
) -> None:
    make_product("HOT", stock_total=5)
    server = serve(workers=2)
    with database_writes_blocked(database_url):
        sender = threading.Thread(target=_try_order, args=(server.url,))
        sender.start()
        deadline = time.monotonic() + 10
        while stock.counters(["HOT"]) != [[4], [4], [4]] and time.monotonic() < deadline:
            time.sleep(0.05)  # the sale has passed the counters and waits for the database
        assert stock.counters(["HOT"]) == [[4], [4], [4]]
        for pid in server.worker_pids():
            os.kill(pid, signal.SIGKILL)
        sender.join(30)
    assert sold("HOT") == orders() == 0

    env = {**os.environ, **gunicorn_env, "PYTHONPATH": str(ROOT)}
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "cardshop", "reconcile"]
    dry = subprocess.run([*flask, "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert "would fix" in dry.stdout, dry.stdout + dry.stderr
    fixed = subprocess.run(flask, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert "fixed" in fixed.stdout, fixed.stdout + fixed.stderr
    assert stock.counters(["HOT"]) == [[5], [5], [5]]


def _try_order(url: str) -> None:
    with contextlib.suppress(requests.RequestException):
        order(url, "HOT", 1)


def test_the_ledger_counts_down_only_the_sales_a_batch_wrote(app, make_product, stock) -> None:
    make_product("HOT", stock_total=10)

    def refused(session, product):  # type: ignore[no-untyped-def]
        raise Busy()

    with stock.locks.hold("stock:HOT") as fence:
        sales = [Sale(1, "a", lambda s, p: "a"), Sale(1, "b", refused), Sale(1, "c", lambda s, p: "c")]
        assert BatchSale(stock, "HOT", sales).sell(fence)
    assert [sale.settled and sale.error is None for sale in sales] == [True, False, True]
    entries = db.session.scalars(select(StockEntry).where(StockEntry.kind == "sale").order_by(StockEntry.id)).all()
    assert [(entry.note, entry.available_after) for entry in entries] == [("a", 9), ("c", 8)]
    assert sold("HOT") == 2
    assert stock.counters(["HOT"]) == [[8], [8], [8]]


def test_a_batch_whose_rows_cannot_go_in_together_is_written_one_by_one(app, make_product, stock, caplog) -> None:
    """A replay whose key the nodes forgot (they restarted empty, say) passes the counters
    and meets the unique key in the database: the batch insert fails as a whole. The
    batch is written again order by order, so only the replay fails and gives its unit
    back; the others are sold."""
    make_product("HOT", stock_total=10)
    rules = RiskRules()

    def writer(key: str, n: int) -> Sale:
        order = order_input.parse(order_payload("HOT", n), max_qty=5)
        return Sale(1, key, OrderWriter(order, key, (None, None), datetime.now(UTC), rules))

    with stock.locks.hold("stock:HOT") as fence:
        first = [writer("k-1", 1)]
        assert BatchSale(stock, "HOT", first).sell(fence)
    assert first[0].error is None
    stock.nodes.fanout(lambda client: client.delete(marker_key("HOT", "k-1")))  # the nodes forget the key

    with stock.locks.hold("stock:HOT") as fence:
        sales = [writer("k-2", 2), writer("k-1", 4), writer("k-3", 3)]  # k-1 again, for another customer
        assert BatchSale(stock, "HOT", sales).sell(fence)
    assert "fell back to one by one" in caplog.text
    assert [sale.error is None for sale in sales] == [True, False, True]
    assert isinstance(sales[1].error, IntegrityError)  # the caller looks up the first order by its key
    assert orders() == 3 and sold("HOT") == 3
    assert stock.counters(["HOT"]) == [[7], [7], [7]]
    entries = db.session.scalars(select(StockEntry).where(StockEntry.kind == "sale").order_by(StockEntry.id)).all()
    assert [(entry.note, entry.available_after) for entry in entries] == [("k-1", 9), ("k-2", 8), ("k-3", 7)]


PLANS = [f"M-{i:02d}" for i in range(8)]


@pytest.mark.gunicorn
@pytest.mark.parametrize("fault", ["kill", "pause"])
def test_rounds_over_many_plans_sell_exactly_the_stock_when_a_node_fails_mid_race(
    serve, make_product, stock, nodes, fault
) -> None:
    for sku in PLANS:
        make_product(sku, stock_total=6)
    server = serve(workers=4)
    node = nodes.nodes[0]
    hit = threading.Timer(0.3, node.kill if fault == "kill" else node.pause)
    hit.start()
    try:
        codes, _ = hammer(server.url, PLANS, 32, 4)
    finally:
        hit.join()
        if fault == "pause":
            node.resume()
    assert codes[201] == 6 * len(PLANS), codes
    assert sold_per_plan() == {sku: (6, 6) for sku in PLANS}
    if fault == "kill":
        assert stock.counters(PLANS)[1:] == [[0] * len(PLANS)] * 2
    else:  # the resumed node missed writes: reconcile rewrites it from the database
        stock.reconcile()
        assert stock.counters(PLANS) == [[0] * len(PLANS)] * 3


def _round(stock, batches: dict[str, list[Sale]]):  # type: ignore[no-untyped-def]
    """Take each plan's lock and token and reserve its batch on the nodes, as a round
    does; returns the plans (BatchSale and what it took) and their fences."""
    plans, fences = {}, {}
    for sku, sales in batches.items():
        lock = stock.locks.acquire(f"stock:{sku}")
        fences[sku] = Fence(lock, f"stock:{sku}", stock.locks.next_token(f"stock:{sku}"))
        sale = BatchSale(stock, sku, sales)
        plans[sku] = (sale, sale.take(fences[sku]))
    return plans, fences


def _let_go(stock, fences) -> None:  # type: ignore[no-untyped-def]
    for fence in fences.values():
        stock.locks.let_go(fence.resource, fence.lock)


def test_a_round_writes_the_plans_whose_fence_holds_and_refuses_the_stale_one(app, make_product, stock) -> None:
    for sku in ("A", "B"):
        make_product(sku, stock_total=3)
    stock.locks.ttl = 0.3
    plans, fences = _round(stock, {"A": [Sale(1, "a", lambda s, p: "a")], "B": [Sale(1, "b", lambda s, p: "b")]})
    time.sleep(0.5)  # the round's holder paused until its locks expired
    stock.reserve("A", 1, "a-newer", lambda session, product: None)  # A sold meanwhile
    stock.locks.ttl = 5.0
    assert stock._write_plans(plans, fences)  # a fence turned out spent
    a, b = plans["A"][0].sales[0], plans["B"][0].sales[0]
    assert isinstance(a.error, Busy) and b.result == "b"
    assert sold("A") == 1 and sold("B") == 1
    stock.reconcile()
    assert stock.counters(["A", "B"]) == [[2, 2]] * 3


def test_a_round_whose_rows_cannot_go_in_together_writes_each_plan_on_its_own(app, make_product, stock, caplog) -> None:
    for sku in ("A", "B"):
        make_product(sku, stock_total=5)
    rules = RiskRules()

    def writer(sku: str, key: str, n: int) -> Sale:
        order = order_input.parse(order_payload(sku, n), max_qty=5)
        return Sale(1, key, OrderWriter(order, key, (None, None), datetime.now(UTC), rules))

    first = [writer("A", "k-1", 1)]
    stock.combiner.sell_all({"A": first}, stock._sell_round)
    stock.nodes.fanout(lambda client: client.delete(marker_key("A", "k-1")))  # the nodes forget the key
    batches = {"A": [writer("A", "k-2", 2), writer("A", "k-1", 4)], "B": [writer("B", "k-3", 3)]}
    plans, fences = _round(stock, batches)
    try:
        assert not stock._write_plans(plans, fences)
    finally:
        _let_go(stock, fences)
    assert "round write of 2 products fell back to one by one" in caplog.text
    assert [sale.error is None for sale in batches["A"]] == [True, False]
    assert isinstance(batches["A"][1].error, IntegrityError) and batches["B"][0].error is None
    assert orders() == 3 and sold("A") == 2 and sold("B") == 1
    assert stock.counters(["A", "B"]) == [[3, 4]] * 3


def test_a_failed_round_commit_gives_every_plan_its_stock_back(app, make_product, stock, monkeypatch) -> None:
    for sku in ("A", "B", "C"):
        make_product(sku, stock_total=4)
    batches = {sku: [Sale(2, f"{sku}-1", lambda s, p: None)] for sku in ("A", "B", "C")}
    plans, fences = _round(stock, batches)
    failure = OperationalError("COMMIT", {}, sqlite3.OperationalError("disk I/O error"))

    def commit() -> None:
        raise failure

    monkeypatch.setattr(stock.session, "commit", commit)
    try:
        with pytest.raises(DatabaseUnavailable):  # the database is unwell: 503, try again
            stock._write_plans(plans, fences)
    finally:
        monkeypatch.undo()
        _let_go(stock, fences)
    assert all(isinstance(sales[0].error, DatabaseUnavailable) for sales in batches.values())
    assert sold("A") == sold("B") == sold("C") == 0
    assert stock.counters(["A", "B", "C"]) == [[4, 4, 4]] * 3
