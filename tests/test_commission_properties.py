"""Properties over random chains, levels and amounts: an order never pays more than the
product's top amount, nobody is paid twice for one order, no line is negative, and the
ledger's balances add up whatever happens to the orders afterwards."""

from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cardshop.extensions import db
from cardshop.models import CommissionLine, Order, Product
from cardshop.services import commissions
from cardshop.services.fulfilment import transition

from .agent_support import assert_ledger_adds_up, chain, deliver, sell

amounts_st = st.lists(st.integers(0, 50_000), min_size=4, max_size=4)
levels_st = st.lists(st.integers(0, 3), min_size=1, max_size=8)
rules_st = st.builds(commissions.Rules, peer_points=st.integers(0, 3), peer_fen=st.integers(0, 3000))


@given(amounts=amounts_st, levels=levels_st, qty=st.integers(1, 5), rules=rules_st)
def test_shares_never_exceed_the_top_amount(amounts, levels, qty, rules) -> None:
    links = [commissions.Link(agent_id, level) for agent_id, level in enumerate(levels, start=1)]
    shares = commissions.plan_shares(amounts, links, qty=qty, rules=rules)
    assert sum(share.amount for share in shares) <= max(amounts) * qty
    assert len({share.agent_id for share in shares}) == len(shares)
    assert all(share.amount >= 0 and share.points >= 0 for share in shares)
    if amounts[levels[0]] > 0:
        assert shares[0].role == "direct" and shares[0].amount == amounts[levels[0]] * qty
    # Monotonic amounts (the usual catalogue): the chain pays exactly the highest level present.
    if amounts == sorted(amounts) and rules.peer_fen == 0:
        assert sum(share.amount for share in shares) == max(amounts[level] for level in levels) * qty


FATES = ("placed", "failed", "recharged", "settled", "stopped")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    amounts=st.lists(st.integers(0, 20_000), min_size=4, max_size=4).map(sorted),
    levels=st.lists(st.integers(0, 3), min_size=1, max_size=5),
    fates=st.lists(st.sampled_from(FATES), min_size=1, max_size=3),
)
def test_the_ledger_adds_up_whatever_happens(client, make_product, stock, amounts, levels, fates) -> None:
    sku = f"P-{db.session.scalar(select(db.func.count()).select_from(Product))}"
    make_product(sku, stock_total=10, commission_fen=amounts)
    agents = chain(*levels)
    orders = [sell(client, agents[-1], sku) for _ in fates]
    for order, fate in zip(orders, fates, strict=True):
        if fate == "failed":
            deliver(client, order, "submitted", "failed")
        elif fate in {"recharged", "settled", "stopped"}:
            deliver(client, order, "submitted", "shipped", "activated", "recharged")
        if fate == "stopped":
            transition(db.session, stock, db.session.get(Order, order.id), "cancelled", reason="停机", source="ops")
    if "settled" in fates:
        commissions.settle_due(db.session, stock, date(2100, 1, 1))
    for order in orders:
        lines = db.session.scalars(select(CommissionLine).where(CommissionLine.order_id == order.id)).all()
        assert sum(line.amount_fen for line in lines) <= amounts[-1]
        assert len({line.agent_id for line in lines}) == len(lines)
        assert all(line.amount_fen >= 0 for line in lines)
    assert_ledger_adds_up()
