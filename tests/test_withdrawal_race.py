"""I6 end to end: the same agent, logged in on two phones, confirms a withdrawal of the
whole balance on both at the same instant, against real gunicorn workers."""

from __future__ import annotations

import re
import threading
from datetime import date

import pytest
import requests
from sqlalchemy import select

from cardshop.extensions import db
from cardshop.models import Wallet, Withdrawal
from cardshop.services import commissions

from .agent_support import PASSWORD, assert_ledger_adds_up, chain, deliver, make_agent, sell

pytestmark = [pytest.mark.gunicorn, pytest.mark.slow]


def logged_in(url: str, phone: str) -> tuple[requests.Session, str]:
    """A browser-like session (cookies, CSRF tokens) logged in as the agent."""
    session = requests.Session()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', session.get(f"{url}/agent/login").text)
    assert token
    session.post(f"{url}/agent/login", data={"phone": phone, "password": PASSWORD, "csrf_token": token.group(1)})
    page = session.get(f"{url}/agent/withdrawals")
    assert page.url.endswith("/agent/withdrawals"), page.url
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    assert token
    return session, token.group(1)


def test_two_phones_confirming_the_whole_balance_at_once_take_it_once(client, make_product, stock, serve) -> None:
    make_product("T-1", stock_total=10)
    upline = chain(1)[0]
    agent = make_agent(0, upline, password=PASSWORD)
    for _ in range(3):
        order = sell(client, agent)
        deliver(client, order, "submitted", "shipped", "activated", "recharged")
    commissions.settle_due(db.session, stock, date(2100, 1, 1))
    server = serve(workers=4, CARDSHOP_COOKIE_SECURE="false")
    phones = [logged_in(server.url, agent.phone) for _ in range(2)]
    barrier = threading.Barrier(2)
    pages: list[str] = []

    def confirm(session: requests.Session, token: str) -> None:
        form = {
            "csrf_token": token,
            "amount": "150.00",
            "payout_method": "bank",
            "payout_account": "6222020202020202",
            "confirmed": "yes",
        }
        barrier.wait()
        pages.append(session.post(f"{server.url}/agent/withdrawals", data=form, timeout=30).text)

    threads = [threading.Thread(target=confirm, args=phone) for phone in phones]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum("提现申请已提交" in page for page in pages) == 1, [re.findall(r"field-error[^<]*<", p) for p in pages]
    db.session.expire_all()
    wallet = db.session.get(Wallet, agent.id)
    assert (wallet.settled, wallet.withdrawing) == (0, 15_000)
    assert len(db.session.scalars(select(Withdrawal)).all()) == 1
    assert_ledger_adds_up()
