"""The stock core reports what operators alert on: lock waits, node errors, the path's time."""

from __future__ import annotations

from .support import order_payload, sample


def test_a_sale_is_timed_and_its_lock_wait_observed(client, make_product) -> None:
    make_product("T-1", stock_total=2)
    waits = sample("cardshop_lock_wait_seconds_count")
    sold = sample("cardshop_stock_path_seconds_count", outcome="sold")
    assert client.post("/api/orders", json=order_payload("T-1"), headers={"Idempotency-Key": "m"}).status_code == 201
    assert sample("cardshop_lock_wait_seconds_count") > waits
    assert sample("cardshop_stock_path_seconds_count", outcome="sold") == sold + 1


def test_a_dead_node_is_counted_and_a_lost_quorum_too(client, make_product, nodes) -> None:
    make_product("T-1", stock_total=5)
    errors = sample("cardshop_redis_node_errors_total", node="2")
    nodes.nodes[2].kill()
    assert client.post("/api/orders", json=order_payload("T-1", 1), headers={"Idempotency-Key": "a"}).status_code == 201
    assert sample("cardshop_redis_node_errors_total", node="2") > errors
    lost = sample("cardshop_quorum_failures_total")
    nodes.nodes[1].kill()
    response = client.post("/api/orders", json=order_payload("T-1", 2), headers={"Idempotency-Key": "b"})
    assert response.status_code == 503
    assert sample("cardshop_quorum_failures_total") > lost
