"""Withdrawals (提现): the fee is shown before confirming, the rules hold, operators decide,
and two requests at once never take the same money (I6)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from cardshop import runtime
from cardshop.errors import CardshopError, Conflict, Invalid
from cardshop.extensions import db
from cardshop.models import Agent, Wallet, Withdrawal
from cardshop.services import commissions, withdrawals

from .agent_support import assert_ledger_adds_up, balances, chain, deliver, sell

POLICY = withdrawals.Policy(min_fen=1000, fee_permille=60, interval_days=7)


def earn(client, stock, agent: Agent, cards: int = 1) -> None:  # type: ignore[no-untyped-def]
    """Settled money the real way: sales through the shop, activated, recharged, settled."""
    for _ in range(cards):
        order = sell(client, agent)
        deliver(client, order, "submitted", "shipped", "activated", "recharged")
    commissions.settle_due(db.session, stock, date(2100, 1, 1))


@pytest.fixture
def seller(client, make_product, stock) -> Agent:  # type: ignore[no-untyped-def]
    make_product("T-1", stock_total=20)  # pays 普通代理 5000 fen a card
    _, agent = chain(1, 0)
    earn(client, stock, agent, cards=2)
    assert balances(agent)["settled"] == 10_000
    return agent


def ask(agent: Agent, amount: int, **kwargs):  # type: ignore[no-untyped-def]
    hold = runtime.runtime().locks.hold
    options = {"policy": POLICY, "method": "alipay", "account": "agent@example.com", **kwargs}
    return withdrawals.request_withdrawal(db.session, hold, db.session.get(Agent, agent.id), amount, **options)


def test_the_page_shows_the_fee_before_the_agent_confirms(client, seller) -> None:
    with client.session_transaction() as session:
        session["_user_id"] = f"agent:{seller.id}"
        session["_fresh"] = True
    form = {"amount": "80.00", "payout_method": "alipay", "payout_account": "agent@example.com"}
    preview = client.post("/agent/withdrawals", data=form)
    page = preview.get_data(as_text=True)
    assert "手续费" in page and "4.80" in page and "75.20" in page and "确认提现" in page
    assert balances(seller)["settled"] == 10_000  # nothing taken yet
    done = client.post("/agent/withdrawals", data={**form, "confirmed": "yes"}, follow_redirects=True)
    assert "提现申请已提交" in done.get_data(as_text=True)
    taken = db.session.scalars(select(Withdrawal)).one()
    assert (taken.amount_fen, taken.fee_fen, taken.net_fen, taken.status) == (8000, 480, 7520, "requested")
    assert balances(seller)["settled"] == 2000 and balances(seller)["withdrawing"] == 8000


def test_the_rules_refuse_with_a_reason(client, seller) -> None:
    with pytest.raises(Invalid) as too_small:
        ask(seller, 999)
    with pytest.raises(Invalid) as too_much:
        ask(seller, 10_001)
    with pytest.raises(Invalid) as bad_account:
        ask(seller, 2000, account="?")
    assert "最低" in too_small.value.fields["amount"] and "超过可提现余额" in too_much.value.fields["amount"]
    assert "payout_account" in bad_account.value.fields
    ask(seller, 2000)
    with pytest.raises(Conflict, match="每 7 天可提现一次"):
        ask(seller, 2000)
    later = datetime.now(UTC) + timedelta(days=7, minutes=1)
    ask(seller, 2000, now=later)
    assert balances(seller)["settled"] == 6000
    assert_ledger_adds_up()


def test_an_unverified_agent_cannot_withdraw(client, seller) -> None:
    db.session.get(Agent, seller.id).verified = False
    db.session.commit()
    with pytest.raises(Conflict, match="实名"):
        ask(seller, 2000)


def test_rejection_returns_the_money_and_payment_completes_it(app, client, seller) -> None:
    first = ask(seller, 4000)
    runner = app.test_cli_runner()
    out = runner.invoke(args=["cardshop", "withdrawal-reject", str(first.id), "--reason", "收款账号与实名不符"])
    assert "rejected" in out.output, out.output
    assert balances(seller)["settled"] == 10_000 and balances(seller)["withdrawing"] == 0
    second = ask(seller, 10_000)  # a rejection does not count against the 7 days
    assert "requested" in runner.invoke(args=["cardshop", "withdrawals"]).output
    paid_early = runner.invoke(args=["cardshop", "withdrawal-paid", str(second.id), "--reference", "T1"])
    assert paid_early.exit_code != 0  # must be approved first
    runner.invoke(args=["cardshop", "withdrawal-approve", str(second.id)])
    out = runner.invoke(args=["cardshop", "withdrawal-paid", str(second.id), "--reference", "ALI20260101"])
    assert "paid" in out.output
    assert balances(seller) == {**balances(seller), "settled": 0, "withdrawing": 0, "withdrawn": 10_000}
    again = runner.invoke(args=["cardshop", "withdrawal-reject", str(second.id), "--reason", "x"])
    assert again.exit_code != 0 and balances(seller)["withdrawn"] == 10_000
    assert_ledger_adds_up()


def race(app, agent_id: int, attempt) -> list[object]:  # type: ignore[no-untyped-def]
    """Run ``attempt(agent)`` in two threads at once, each with its own session."""
    barrier = threading.Barrier(2)
    results: list[object] = []

    def one() -> None:
        with app.app_context():
            agent = db.session.get(Agent, agent_id)
            barrier.wait()
            try:
                results.append(attempt(agent))
            except CardshopError as error:
                results.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.mark.parametrize("with_lock", [True, False], ids=["redlock+guard", "database-guard-alone"])
def test_two_withdrawals_of_the_whole_balance_at_once_take_it_once(app, seller, with_lock) -> None:
    def attempt(agent: Agent) -> Withdrawal:
        options = {"policy": withdrawals.Policy(interval_days=0), "method": "bank", "account": "6222020202020202"}
        if with_lock:
            return withdrawals.request_withdrawal(db.session, runtime.runtime().locks.hold, agent, 10_000, **options)
        return withdrawals.take_for_withdrawal(db.session, agent, 10_000, **options)

    results = race(app, seller.id, attempt)
    won = [result for result in results if isinstance(result, Withdrawal)]
    lost = [result for result in results if isinstance(result, CardshopError)]
    assert len(won) == 1 and len(lost) == 1, results  # the loser is told why (balance, busy)
    db.session.expire_all()
    wallet = db.session.get(Wallet, seller.id)
    assert (wallet.settled, wallet.withdrawing) == (0, 10_000)
    assert len(db.session.scalars(select(Withdrawal)).all()) == 1
    assert_ledger_adds_up()
