"""Sixteen processes race ten times more orders than there is stock (I1, I3)."""

from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest
from sqlalchemy import func, select

from cardshop.extensions import db
from cardshop.models import Order, Product, StockEntry

from .support import race_worker

pytestmark = pytest.mark.slow

PROCESSES = 16
STOCK = 24


def test_sixteen_processes_sell_exactly_the_stock(app, make_product, stock, nodes, database_url) -> None:
    make_product("HOT", stock_total=STOCK)
    attempts = STOCK * 10 // PROCESSES
    jobs = [(nodes.urls, database_url, "HOT", worker, attempts) for worker in range(PROCESSES)]
    with multiprocessing.get_context("fork").Pool(PROCESSES) as pool:
        codes = Counter(code for result in pool.map(race_worker, jobs) for code in result)

    assert codes[201] == STOCK
    assert set(codes) <= {201, 409, 503}, codes
    db.session.expire_all()
    assert db.session.scalar(select(Product.stock_sold).where(Product.sku == "HOT")) == STOCK
    assert db.session.scalar(select(func.count(Order.id))) == STOCK
    assert db.session.scalar(select(func.sum(StockEntry.qty)).where(StockEntry.kind == "sale")) == -STOCK
    assert stock.counters(["HOT"]) == [[0], [0], [0]]
