"""Operators decide agents' withdrawals: approve then mark paid, or reject (the money
goes back to the agent's balance); each decision is made once, and the agents page
shows the balances."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from cardshop import runtime
from cardshop.extensions import db
from cardshop.models import Agent, Withdrawal
from cardshop.services import commissions, withdrawals

from .agent_support import assert_ledger_adds_up, balances, chain, deliver, sell
from .ops_fixtures import fast_hashing, operator, ops  # noqa: F401

POLICY = withdrawals.Policy(min_fen=1000, fee_permille=60, interval_days=0)


@pytest.fixture
def seller(client, make_product, stock) -> Agent:  # type: ignore[no-untyped-def]
    make_product("T-1", stock_total=20)  # pays 普通代理 50 yuan a card
    _, agent = chain(1, 0)
    for _ in range(3):
        deliver(client, sell(client, agent), "submitted", "shipped", "activated", "recharged")
    commissions.settle_due(db.session, stock, date(2100, 1, 1))
    assert balances(agent)["settled"] == 15_000
    return agent


def ask(agent: Agent, amount: int) -> Withdrawal:
    hold = runtime.runtime().locks.hold
    return withdrawals.request_withdrawal(
        db.session, hold, db.session.get(Agent, agent.id), amount, policy=POLICY, method="alipay", account="a@b.cn"
    )


def test_an_operator_approves_then_marks_paid(ops, seller) -> None:  # noqa: F811
    taken = ask(seller, 8000)
    page = ops.get("/ops/withdrawals").text
    assert f"#{taken.id}" in page and "¥80.00" in page and "¥4.80" in page and "¥75.20" in page and "a@b.cn" in page
    assert ops.post(f"/ops/withdrawals/{taken.id}/approve").status_code == 302
    unpaid = ops.post(f"/ops/withdrawals/{taken.id}/paid", data={"reference": ""}, follow_redirects=True)
    assert "请填写转账流水号" in unpaid.text
    ops.post(f"/ops/withdrawals/{taken.id}/paid", data={"reference": "ALI2026112500001"})
    done = db.session.scalars(select(Withdrawal)).one()
    assert (done.status, done.reference, done.operator) == ("paid", "ALI2026112500001", "admin:ops-wang")
    assert balances(seller)["withdrawn"] == 8000 and balances(seller)["withdrawing"] == 0
    again = ops.post(f"/ops/withdrawals/{taken.id}/approve", follow_redirects=True)
    assert "flash error" in again.text, "a decision is made once"
    assert_ledger_adds_up()


def test_a_rejected_withdrawal_returns_the_money(ops, seller) -> None:  # noqa: F811
    taken = ask(seller, 5000)
    assert balances(seller)["settled"] == 10_000
    refused = ops.post(f"/ops/withdrawals/{taken.id}/reject", data={"reason": ""}, follow_redirects=True)
    assert "请填写驳回原因" in refused.text and db.session.get(Withdrawal, taken.id).status == "requested"
    ops.post(f"/ops/withdrawals/{taken.id}/reject", data={"reason": "收款账号与实名不一致"})
    db.session.expire_all()
    assert db.session.get(Withdrawal, taken.id).status == "rejected"
    assert balances(seller)["settled"] == 15_000 and balances(seller)["withdrawing"] == 0
    assert "收款账号与实名不一致" in ops.get("/ops/withdrawals?status=rejected").text
    agents = ops.get("/ops/agents").text
    assert "¥150.00" in agents, "the agents page shows the settled balance"
