"""The stock core reports what operators alert on: lock waits, node errors, the path's time."""

from __future__ import annotations

from cardshop import metrics

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


STEPS = ("turn", "take", "reserve", "write", "release")


def test_with_step_timing_on_each_step_of_a_sale_is_timed_on_both_clocks(client, make_product) -> None:
    make_product("T-1", stock_total=2)

    def counts() -> dict[tuple[str, str], float]:
        return {
            (step, clock): sample("cardshop_stock_step_seconds_count", step=step, clock=clock)
            for step in STEPS
            for clock in ("wall", "cpu")
        }

    before = counts()
    assert client.post("/api/orders", json=order_payload("T-1"), headers={"Idempotency-Key": "s1"}).status_code == 201
    assert counts() == before  # off by default: nothing timed

    metrics.time_sale_steps(True)
    try:
        response = client.post("/api/orders", json=order_payload("T-1", 1), headers={"Idempotency-Key": "s2"})
    finally:
        metrics.time_sale_steps(False)
    assert response.status_code == 201
    after = counts()
    assert all(after[key] == before[key] + 1 for key in after)  # one lease, one batch
    wall = sample("cardshop_stock_step_seconds_sum", step="write", clock="wall")
    cpu = sample("cardshop_stock_step_seconds_sum", step="write", clock="cpu")
    assert 0 < cpu and 0 < wall
