"""Commissions as DESIGN.md's worked examples: 直销, 级差, 平级, the snapshot, and the
lifecycle pending → frozen → settled or void, driven by signed upstream callbacks."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from cardshop.extensions import db
from cardshop.models import Agent, CommissionLine, Order
from cardshop.services import commissions

from .agent_support import assert_ledger_adds_up, balances, chain, deliver, make_agent, sell

AMOUNTS = [6000, 8000, 9500, 11000]  # 普通 / 黑钻 / 金钻 / 商务, in fen


@pytest.fixture
def product(make_product):  # type: ignore[no-untyped-def]
    return make_product("T-1", stock_total=50, commission_fen=AMOUNTS)


def earned(order: Order) -> dict[int, tuple[str, int, int]]:
    lines = db.session.scalars(select(CommissionLine).where(CommissionLine.order_id == order.id)).all()
    return {line.agent_id: (line.role, line.amount_fen, line.points) for line in lines}


def test_each_upline_earns_exactly_its_level_difference(client, product) -> None:
    top, gold, black, plain = chain(3, 2, 1, 0)  # 商务 → 金钻 → 黑钻 → 普通
    order = sell(client, plain)
    assert earned(order) == {
        plain.id: ("direct", 6000, 0),
        black.id: ("differential", 2000, 0),
        gold.id: ("differential", 1500, 0),
        top.id: ("differential", 1500, 0),
    }
    assert sum(amount for _, amount, _ in earned(order).values()) == AMOUNTS[-1]
    assert [balances(agent)["pending"] for agent in (plain, black, gold, top)] == [6000, 2000, 1500, 1500]
    assert_ledger_adds_up()


def test_a_same_level_upline_earns_a_peer_reward_and_no_money(client, product) -> None:
    black, upper_plain, plain = chain(1, 0, 0)  # 黑钻 → 普通 → 普通
    order = sell(client, plain)
    assert earned(order) == {
        plain.id: ("direct", 6000, 0),
        upper_plain.id: ("peer", 0, 1),
        black.id: ("differential", 2000, 0),
    }
    deliver(client, order, "submitted", "shipped", "activated", "recharged")
    assert balances(upper_plain) == {**balances(upper_plain), "frozen": 0, "points": 1}
    assert balances(black)["frozen"] == 2000


def test_a_lower_level_upline_earns_nothing(client, product) -> None:
    _plain, gold = chain(0, 2)  # a 普通 upline above a 金钻 seller
    order = sell(client, gold)
    assert earned(order) == {gold.id: ("direct", 9500, 0)}


def test_the_chain_as_it_was_at_placement_pays(client, product) -> None:
    top, black, plain = chain(3, 1, 0)
    order = sell(client, plain)
    # After the order: the 黑钻 rises to 商务 and the seller moves to another team.
    other = make_agent(2)
    db.session.get(Agent, black.id).level = 3
    db.session.get(Agent, plain.id).upline_id = other.id
    db.session.commit()
    deliver(client, order, "submitted", "shipped", "activated", "recharged")
    assert earned(order) == {
        plain.id: ("direct", 6000, 0),
        black.id: ("differential", 2000, 0),
        top.id: ("differential", 3000, 0),
    }
    assert balances(other)["frozen"] == 0
    assert [balances(agent)["frozen"] for agent in (plain, black, top)] == [6000, 2000, 3000]


def test_money_freezes_on_recharge_and_settles_at_the_end_of_next_month(client, app, product) -> None:
    black, plain = chain(1, 0)
    order = sell(client, plain)
    activated = datetime(2026, 1, 15, 20, 0, tzinfo=UTC)  # 16 Jan 04:00 in Shanghai
    deliver(client, order, "submitted", "shipped")
    deliver(client, order, "activated", "recharged", at=activated)
    line = db.session.scalars(select(CommissionLine).where(CommissionLine.agent_id == plain.id)).one()
    assert (line.state, line.settle_on) == ("frozen", date(2026, 2, 28))
    assert balances(plain)["frozen"] == 6000 and balances(plain)["pending"] == 0

    runner = app.test_cli_runner()
    early = runner.invoke(args=["cardshop", "settle", "--on", "2026-02-27"])
    assert "0 order(s) settled" in early.output and balances(plain)["settled"] == 0
    due = runner.invoke(args=["cardshop", "settle", "--on", "2026-02-28"])
    assert "1 order(s) settled" in due.output, due.output
    assert balances(plain)["settled"] == 6000 and balances(black)["settled"] == 2000
    assert db.session.get(Order, order.id).status == "settled"
    again = runner.invoke(args=["cardshop", "settle", "--on", "2026-03-31"])
    assert "0 order(s) settled" in again.output and balances(plain)["settled"] == 6000
    assert_ledger_adds_up()


def test_a_failed_order_voids_its_pending_commission(client, product) -> None:
    _black, plain = chain(1, 0)
    order = sell(client, plain)
    deliver(client, order, "submitted", "failed")
    assert balances(plain) == {**balances(plain), "pending": 0, "frozen": 0, "settled": 0}
    states = set(db.session.scalars(select(CommissionLine.state).where(CommissionLine.order_id == order.id)))
    assert states == {"void"}
    assert_ledger_adds_up()


def test_a_card_stopped_before_settlement_voids_frozen_money_and_points(client, stock, product) -> None:
    black, peer, plain = chain(1, 0, 0)
    order = sell(client, plain)
    deliver(client, order, "submitted", "shipped", "activated", "recharged")
    assert balances(peer)["points"] == 1 and balances(black)["frozen"] == 2000
    from cardshop.services.fulfilment import transition

    transition(db.session, stock, db.session.get(Order, order.id), "cancelled", reason="用户销户", source="ops")
    assert balances(black)["frozen"] == 0 and balances(peer)["points"] == 0 and balances(plain)["frozen"] == 0
    assert_ledger_adds_up()


def test_an_order_of_two_cards_pays_twice_the_amounts(client, product) -> None:
    black, plain = chain(1, 0)
    order = sell(client, plain, qty=2)
    assert earned(order) == {plain.id: ("direct", 12000, 0), black.id: ("differential", 4000, 0)}


def test_a_sale_without_an_agent_pays_nobody(client, product) -> None:
    order = sell(client, None)
    assert earned(order) == {}


def test_peer_money_comes_only_from_what_the_top_amount_leaves() -> None:
    rules = commissions.Rules(peer_points=1, peer_fen=500)
    room = commissions.plan_shares(AMOUNTS, [commissions.Link(1, 0), commissions.Link(2, 0)], rules=rules)
    assert [(s.agent_id, s.role, s.amount, s.points) for s in room] == [(1, "direct", 6000, 0), (2, "peer", 500, 1)]
    links = [commissions.Link(1, 0), commissions.Link(2, 0), commissions.Link(3, 3)]
    full = commissions.plan_shares(AMOUNTS, links, rules=rules)
    assert [(s.agent_id, s.role, s.amount, s.points) for s in full] == [
        (1, "direct", 6000, 0),
        (2, "peer", 0, 1),
        (3, "differential", 5000, 0),
    ]
