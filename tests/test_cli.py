"""Operator commands, run the way operators run them."""

from __future__ import annotations

from sqlalchemy import func, select

from cardshop.extensions import db
from cardshop.models import Agent, PhoneNumber, Product


def test_demo_loads_a_realistic_catalogue_onto_the_nodes(app, stock) -> None:
    runner = app.test_cli_runner()
    assert runner.invoke(args=["cardshop", "init-db"]).exit_code == 0
    result = runner.invoke(args=["cardshop", "demo"])
    assert result.exit_code == 0, result.output
    products = db.session.scalars(select(Product)).all()
    assert len(products) >= 6
    assert {p.carrier for p in products} == {"mobile", "unicom", "telecom", "broadnet"}
    selectable = [p for p in products if p.number_selectable]
    assert selectable and db.session.scalar(select(func.count(PhoneNumber.id))) >= 100
    assert db.session.scalars(select(Agent).where(Agent.invite_code == "00168")).one().verified
    live = stock.available([p.sku for p in products])
    assert live == {p.sku: p.stock_available for p in products}
    assert runner.invoke(args=["cardshop", "demo"]).exit_code == 0  # a second run adds nothing
    assert db.session.scalar(select(func.count(Product.id))) == len(products)


def test_restock_adds_under_the_lock_and_ledger(app, make_product, stock) -> None:
    make_product("T-1", stock_total=2)
    result = app.test_cli_runner().invoke(args=["cardshop", "restock", "T-1", "5"])
    assert result.exit_code == 0, result.output
    assert "available now 7" in result.output
    assert stock.counters(["T-1"]) == [[7], [7], [7]]
    assert app.test_cli_runner().invoke(args=["cardshop", "restock", "NOPE", "5"]).exit_code != 0


def test_reconcile_reports_each_node_and_fixes_drift(app, make_product, stock, nodes) -> None:
    make_product("T-1", stock_total=4)
    nodes.nodes[2].restart()
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["cardshop", "reconcile", "--dry-run"])
    assert "would fix" in dry.output and "missing" in dry.output
    assert stock.counters(["T-1"]) == [[4], [4], [None]]
    fixed = runner.invoke(args=["cardshop", "reconcile"])
    assert "fixed" in fixed.output
    assert stock.counters(["T-1"]) == [[4], [4], [4]]
    assert "ok" in runner.invoke(args=["cardshop", "reconcile"]).output
