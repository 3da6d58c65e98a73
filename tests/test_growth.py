"""Data growth: the large seed writes a consistent history, and the pages that grow with
it keep their queries on indexes (small data here; ``make bench-pages`` measures the
million-order case)."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from cardshop.errors import Conflict
from cardshop.extensions import db
from cardshop.models import DEAD_STATUSES, Agent, CommissionLine, Order, OrderEvent, PhoneNumber, Product, Wallet
from cardshop.services import seeding
from tests.agent_support import assert_ledger_adds_up
from tests.perf.plans import plans_for

PLAN = seeding.Plan(orders=3000, agents=60, seed=5)


@pytest.fixture
def seeded(app, stock):  # type: ignore[no-untyped-def]
    return seeding.seed_large(db.session, stock, PLAN, secret="test-secret")


def busiest(report: seeding.Report) -> Agent:
    phone = report.busiest[0][0]
    return db.session.scalars(select(Agent).where(Agent.phone == phone)).one()


def test_seed_writes_a_year_of_consistent_history(seeded, stock):
    assert db.session.scalar(select(func.count()).select_from(Order)) == PLAN.orders
    assert db.session.scalar(select(func.count()).select_from(Agent)) == PLAN.agents + 1  # and the demo root
    statuses = Counter(db.session.scalars(select(Order.status)))
    assert {"submitted", "shipped", "settled", "rejected", "cancelled"} <= set(statuses)

    # Every order's timeline starts with its submission and ends at its status.
    events = db.session.execute(select(OrderEvent.order_id, OrderEvent.to_status).order_by(OrderEvent.id)).all()
    timelines: dict[int, list[str]] = {}
    for order_id, status in events:
        timelines.setdefault(order_id, []).append(status)
    for order_id, status in db.session.execute(select(Order.id, Order.status)):
        assert timelines[order_id][0] == "submitted"
        assert timelines[order_id][-1] == status

    # Activated orders carry their activation event's time (monthly activations count it).
    activations = select(OrderEvent.order_id, OrderEvent.created_at).where(
        OrderEvent.to_status == "activated", OrderEvent.accepted.is_(True)
    )
    activated = select(Order.id, Order.activated_at).where(Order.activated_at.is_not(None))
    assert dict(db.session.execute(activated).all()) == dict(db.session.execute(activations).all())

    # Customers come back: one to three orders per phone.
    per_phone = Counter(db.session.scalars(select(Order.customer_phone)))
    assert max(per_phone.values()) <= 3 and min(per_phone.values()) >= 1
    assert len(per_phone) < PLAN.orders

    # Money: every wallet is its ledger; void lines follow dead orders.
    assert_ledger_adds_up()
    dead = db.session.scalars(
        select(CommissionLine.state)
        .join(Order, Order.id == CommissionLine.order_id)
        .where(Order.status.in_(DEAD_STATUSES))
    ).all()
    assert dead and set(dead) == {"void"}
    assert db.session.scalar(select(func.count()).select_from(Wallet)) >= PLAN.agents

    # Stock: what products sold equals the cards on live orders, and the nodes agree (I4).
    live = dict(
        db.session.execute(
            select(Order.product_id, func.sum(Order.qty))
            .where(Order.status.not_in(DEAD_STATUSES))
            .group_by(Order.product_id)
        ).all()
    )
    for product in db.session.scalars(select(Product)):
        assert product.stock_sold == live.get(product.id, 0)
    assert all(not row.fixed and set(row.nodes) == {row.database} for row in stock.reconcile(dry_run=True))

    # A picked number is held by exactly its live order (I2).
    claimed = db.session.scalar(select(func.count()).select_from(Order).where(Order.number_claim.is_not(None)))
    sold = db.session.scalar(select(func.count()).select_from(PhoneNumber).where(PhoneNumber.status == "sold"))
    assert claimed == sold > 0


def test_the_same_seed_is_refused_twice(seeded, stock):
    with pytest.raises(Conflict):
        seeding.seed_large(db.session, stock, PLAN, secret="test-secret")


def test_seed_large_command_reports_what_it_wrote(app):
    result = app.test_cli_runner().invoke(args=["cardshop", "seed-large", "--orders", "400", "--agents", "12"])
    assert result.exit_code == 0, result.output
    assert "orders                   400" in result.output
    assert "busy agent" in result.output


def test_busy_agent_sees_their_orders_with_commission(seeded, client):
    agent = busiest(seeded)
    from tests.agent_support import log_in_as

    log_in_as(client, agent)
    page = client.get("/agent/orders?status=settled")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "已结算" in html and "佣金 ¥" in html
    assert f"共 {seeded.busiest[0][2]} 条" in client.get("/agent/orders").get_data(as_text=True)


GROWING_PAGES = [
    "/agent/orders",
    "/agent/orders?status=shipped",
    "/agent/orders?month=2026-01",
    "/agent/orders?page=3",
    "/agent/",
    "/agent/commissions",
]


def test_agent_pages_read_growing_tables_through_indexes(seeded, app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("plans are checked on SQLite; bench-pages prints PostgreSQL's")
    user_id = busiest(seeded).get_id()
    for path in GROWING_PAGES:
        plans = plans_for(app, path, user_id=user_id)
        assert plans, f"{path} ran no queries"
        scans = [(plan.query.sql[:120], plan.full_scans()) for plan in plans if plan.full_scans()]
        assert not scans, path


def test_order_lookups_use_indexes(seeded, app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("plans are checked on SQLite")
    order = db.session.scalars(select(Order).order_by(Order.id.desc()).limit(1)).one()
    api = plans_for(app, f"/api/orders/{order.order_no}?phone={order.customer_phone}")
    form = plans_for(
        app,
        "/orders/lookup",
        method="POST",
        data={"phone": order.customer_phone, "id_tail": order.id_card[-6:]},
    )
    for plans in (api, form):
        assert plans and not [plan.full_scans() for plan in plans if plan.full_scans()]


def test_ops_order_list_reads_orders_through_indexes(seeded, app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("plans are checked on SQLite")
    from cardshop.services import admins

    admin = admins.create_admin(db.session, "growth-ops", "ops-pass-2026")
    shop = busiest(seeded).shop_code
    for path in (
        "/ops/orders",
        "/ops/orders?status=shipped",
        f"/ops/orders?status=settled&shop_code={shop}",
        "/ops/orders?sku=CU-DAWANG-19&date_from=2026-01-01&date_to=2026-01-31",
        "/ops/orders?page=3",
    ):
        plans = plans_for(app, path, user_id=admin.get_id())
        assert plans, f"{path} ran no queries"
        assert not [plan.full_scans() for plan in plans if plan.full_scans()], path
