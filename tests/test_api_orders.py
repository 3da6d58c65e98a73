"""The order path through the JSON API, against three real nodes and a real database."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from cardshop.extensions import db
from cardshop.models import Order, Product, StockEntry
from cardshop.stock.selling import marker_key

from .support import order_payload


def test_an_order_sells_one_unit_everywhere(client, make_product, stock, nodes) -> None:
    make_product("T-1", stock_total=3)
    response = client.post("/api/orders", json=order_payload("T-1"), headers={"Idempotency-Key": "a1"})
    assert response.status_code == 201
    assert response.json["status"] == "submitted"
    product = db.session.scalars(select(Product).where(Product.sku == "T-1")).one()
    assert (product.stock_total, product.stock_sold) == (3, 1)
    assert stock.counters(["T-1"]) == [[2], [2], [2]]
    kinds = db.session.scalars(select(StockEntry.kind).order_by(StockEntry.id)).all()
    assert kinds == ["restock", "sale"]


def test_the_customer_reads_their_order_masked(client, make_product) -> None:
    make_product("T-1")
    payload = order_payload("T-1", 7)
    placed = client.post("/api/orders", json=payload, headers={"Idempotency-Key": "k"}).json
    wrong = client.get(f"/api/orders/{placed['order_no']}?phone=13900000000")
    missing = client.get("/api/orders/00000000000000000000?phone=13800000007")
    assert wrong.status_code == missing.status_code == 404
    assert wrong.json == missing.json
    shown = client.get(f"/api/orders/{placed['order_no']}?phone=13800000007").json
    assert shown["customer"]["phone"] == "138****0007"
    assert (
        "*" in shown["customer"]["id_card"] and shown["customer"]["id_card"][-4:] == payload["customer"]["id_card"][-4:]
    )
    assert [step["status"] for step in shown["timeline"]] == ["submitted"]


def test_sold_out_is_409_and_touches_nothing(client, make_product) -> None:
    make_product("T-1", stock_total=1)
    assert client.post("/api/orders", json=order_payload("T-1", 1), headers={"Idempotency-Key": "1"}).status_code == 201
    response = client.post("/api/orders", json=order_payload("T-1", 2), headers={"Idempotency-Key": "2"})
    assert response.status_code == 409
    assert response.json["error"] == "sold_out"
    assert db.session.scalar(select(func.count(Order.id))) == 1


def test_the_same_idempotency_key_four_times_at_once_gives_one_order(app, make_product) -> None:
    make_product("T-1", stock_total=10)
    barrier = threading.Barrier(4)
    results: list[tuple[int, str]] = []

    def send() -> None:
        client = app.test_client()
        with app.app_context():
            barrier.wait()
            response = client.post("/api/orders", json=order_payload("T-1"), headers={"Idempotency-Key": "same"})
            results.append((response.status_code, response.json.get("order_no", response.json.get("error"))))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(code for code, _ in results) == [200, 200, 200, 201]
    assert len({order_no for _, order_no in results}) == 1
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Order.id))) == 1
    assert db.session.scalar(select(Product.stock_sold)) == 1


def test_same_key_with_a_different_order_is_refused(client, make_product) -> None:
    make_product("T-1")
    client.post("/api/orders", json=order_payload("T-1", 1), headers={"Idempotency-Key": "k"})
    response = client.post("/api/orders", json=order_payload("T-1", 2), headers={"Idempotency-Key": "k"})
    assert response.status_code == 409
    assert response.json["error"] == "conflict"


def test_a_replay_the_nodes_forgot_still_finds_its_order(client, make_product, stock) -> None:
    """The nodes lost the order's key (they restarted empty, say), so the replay passes the
    counters; the risk rules then see the first order of the same person. The customer
    still gets that first order back (I5), and no unit stays taken."""
    make_product("T-1", stock_total=5)
    first = client.post("/api/orders", json=order_payload("T-1", 1), headers={"Idempotency-Key": "again"})
    assert first.status_code == 201
    stock.nodes.fanout(lambda node: node.delete(marker_key("T-1", "again")))
    replay = client.post("/api/orders", json=order_payload("T-1", 1), headers={"Idempotency-Key": "again"})
    assert replay.status_code == 200
    assert replay.json["order_no"] == first.json["order_no"]
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Order.id))) == 1
    assert db.session.scalar(select(Product.stock_sold)) == 1
    assert stock.counters(["T-1"]) == [[4], [4], [4]]
