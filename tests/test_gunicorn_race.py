"""The same race through real gunicorn: four workers, 64 concurrent HTTP clients."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import pytest
import requests
from sqlalchemy import func, select

from cardshop.extensions import db
from cardshop.models import Order, Product

from .support import order_payload

pytestmark = [pytest.mark.slow, pytest.mark.gunicorn]

CLIENTS = 64
STOCK = 60


def hammer(
    url: str, sku: str | list[str], clients: int, per_client: int, offset: int = 0
) -> tuple[Counter[int], list[float]]:
    """``clients`` threads each sending ``per_client`` orders (for ``sku``, or for one of
    the listed skus picked at random); returns codes and latencies (s) of 201s."""
    skus = [sku] if isinstance(sku, str) else sku
    codes: Counter[int] = Counter()
    latencies: list[float] = []
    guard = threading.Lock()
    start = threading.Barrier(clients)

    def client(index: int) -> None:
        session = requests.Session()
        start.wait()
        for attempt in range(per_client):
            n = offset + index * 1000 + attempt
            began = time.perf_counter()
            try:
                response = session.post(
                    f"{url}/api/orders",
                    json=order_payload(random.choice(skus), n),
                    headers={"Idempotency-Key": f"g-{n}"},
                    timeout=30,
                )
                code = response.status_code
            except requests.RequestException:
                code = 0
            took = time.perf_counter() - began
            with guard:
                codes[code] += 1
                if code == 201:
                    latencies.append(took)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes, latencies


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0


def test_gunicorn_sells_exactly_the_stock_to_64_clients(serve, make_product, stock, capsys) -> None:
    make_product("HOT", stock_total=STOCK)
    server = serve(workers=4)
    began = time.perf_counter()
    codes, latencies = hammer(server.url, "HOT", CLIENTS, STOCK * 10 // CLIENTS)
    elapsed = time.perf_counter() - began

    assert codes[201] == STOCK, codes
    assert set(codes) <= {201, 409, 503}, codes
    db.session.expire_all()
    assert db.session.scalar(select(Product.stock_sold)) == STOCK
    assert db.session.scalar(select(func.count(Order.id))) == STOCK
    assert stock.counters(["HOT"]) == [[0], [0], [0]]
    with capsys.disabled():
        print(
            f"\n[race via gunicorn] {sum(codes.values())} requests in {elapsed:.2f}s "
            f"({sum(codes.values()) / elapsed:.0f} req/s), {STOCK} orders; codes {dict(codes)}; "
            f"201 latency p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms"
        )


PLANS = [f"M-{i:02d}" for i in range(12)]


def sold_per_plan() -> dict[str, tuple[int, int]]:
    """Each plan's (units sold, orders) as the database holds them."""
    db.session.expire_all()
    sold = dict(db.session.execute(select(Product.sku, Product.stock_sold)).all())
    orders = dict(db.session.execute(select(Product.sku, func.count(Order.id)).join(Order).group_by(Product.sku)).all())
    return {sku: (sold[sku], orders.get(sku, 0)) for sku in sold}


def test_gunicorn_sells_exactly_the_stock_of_many_plans_to_64_clients(serve, make_product, stock) -> None:
    """Rounds sell many plans at once: each plan still sells exactly its stock."""
    for sku in PLANS:
        make_product(sku, stock_total=8)
    server = serve(workers=4)
    codes, _ = hammer(server.url, PLANS, CLIENTS, 4)
    assert codes[201] == 8 * len(PLANS), codes
    assert set(codes) <= {201, 409, 503}, codes
    assert sold_per_plan() == {sku: (8, 8) for sku in PLANS}
    assert stock.counters(PLANS) == [[0] * len(PLANS)] * 3
