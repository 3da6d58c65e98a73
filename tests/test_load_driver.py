"""The benchmark's load driver (tests/perf/load.py) against a real gunicorn: it reads
every answer's status and error code right, keeps its connections, and what it
counts as sold is what the database holds."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cardshop.extensions import db
from cardshop.models import Order
from tests.perf.load import PROCESS_SPAN, THREAD_SPAN, drive, pick

pytestmark = pytest.mark.gunicorn


def test_the_driver_counts_what_the_server_answered(serve, make_product) -> None:
    make_product("T-1", stock_total=30)
    server = serve(workers=2)
    result = drive(server.url, "post", ["T-1"], clients=6, seconds=1.5, processes=2, seed=10**9)
    assert result.codes["201"] == 30  # every unit sold, each answer read whole
    assert result.codes["409 sold_out"] > 0 and set(result.codes) == {"201", "409 sold_out"}
    assert sum(len(values) for values in result.latencies.values()) == result.requests
    assert all(0 < took < 10 for values in result.latencies.values() for took in values)
    assert result.driver_cpu > 0
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Order.id))) == 30
    health = drive(server.url, "get", ["/healthz"], clients=3, seconds=0.5, processes=1, seed=0)
    assert set(health.codes) == {"200"} and health.requests > 3


def test_clients_in_step_order_different_plans() -> None:
    """Clients answered together by one batch send their next orders together: those
    must not all be for the same plan (a convoy), and over a row every plan gets its share."""
    skus = [f"S-{i:02d}" for i in range(50)]
    firsts = [process * PROCESS_SPAN + client * THREAD_SPAN for process in range(4) for client in range(16)]
    for step in range(1, 20):
        assert len({pick(skus, first + step) for first in firsts}) >= 25  # 64 clients, 50 plans
    counts = {sku: 0 for sku in skus}
    for first in firsts:
        for step in range(1, 200):
            counts[pick(skus, first + step)] += 1
    assert min(counts.values()) > 0.6 * (len(firsts) * 199 / len(skus))
