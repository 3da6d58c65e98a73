"""The benchmark's load driver (tests/perf/load.py) against a real gunicorn: it reads
every answer's status and error code right, keeps its connections, and what it
counts as sold is what the database holds."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cardshop.extensions import db
from cardshop.models import Order
from tests.perf.load import drive

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
