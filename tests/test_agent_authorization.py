"""Nobody sees what is not theirs (I7): agent B cannot read or act on agent A's orders,
team, ledger, withdrawals or poster, and anonymous visitors are sent to the login page."""

from __future__ import annotations

from datetime import date

import pytest

from cardshop import runtime
from cardshop.extensions import db
from cardshop.services import commissions, withdrawals

from .agent_support import deliver, log_in_as, make_agent, sell

AGENT_PAGES = [
    "/agent/",
    "/agent/products",
    "/agent/orders",
    "/agent/team",
    "/agent/commissions",
    "/agent/withdrawals",
    "/agent/shop",
    "/agent/shop/poster.png",
    "/agent/verify",
]


@pytest.fixture
def two_agents(client, make_product, stock):  # type: ignore[no-untyped-def]
    """A with a downline, a settled sale, a ledger and a withdrawal; B with none of it."""
    make_product("T-1", stock_total=10)
    root = make_agent(3)
    alice = make_agent(1, root)
    downline = make_agent(0, alice)
    order = sell(client, alice)
    deliver(client, order, "submitted", "shipped", "activated", "recharged")
    commissions.settle_due(db.session, stock, date(2100, 1, 1))
    taken = withdrawals.request_withdrawal(
        db.session,
        runtime.runtime().locks.hold,
        alice,
        2000,
        policy=withdrawals.Policy(),
        method="alipay",
        account="alice-pay@example.com",
    )
    bob = make_agent(1, root)
    return alice, bob, downline, order, taken


def test_anonymous_visitors_are_sent_to_login(client) -> None:
    for path in AGENT_PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == f"/agent/login?next={path}", path
    for path in ("/agent/shop", "/agent/withdrawals", "/agent/verify"):
        assert client.post(path, data={}).status_code == 302, path


def test_agent_b_sees_none_of_agent_a(client, two_agents) -> None:
    alice, bob, downline, order, taken = two_agents
    log_in_as(client, bob)
    pages = {path: client.get(path) for path in AGENT_PAGES}
    assert all(response.status_code == 200 for response in pages.values())
    text = {path: response.get_data(as_text=True) for path, response in pages.items() if path.endswith(".png") is False}
    everything = "".join(text.values())
    for secret in (
        order.order_no,
        downline.phone[-4:],
        f'data-withdrawal="{taken.id}"',
        alice.shop_name,
        alice.invite_code,
    ):
        assert secret not in everything, secret
    assert "¥0.00" in text["/agent/"] and "暂无流水" in text["/agent/commissions"]
    assert "暂无提现记录" in text["/agent/withdrawals"] and "还没有下级" in text["/agent/team"]
    assert client.get(f"/agent/orders/{order.order_no}").status_code == 404
    assert bob.shop_code in pages["/agent/shop/poster.png"].headers["Content-Disposition"]
    assert alice.shop_code not in pages["/agent/shop/poster.png"].headers["Content-Disposition"]
    # Query strings cannot widen the view.
    assert order.order_no not in client.get(f"/agent/orders?agent_id={alice.id}").get_data(as_text=True)
    assert "暂无流水" in client.get(f"/agent/commissions?agent_id={alice.id}").get_data(as_text=True)


def test_agent_a_sees_their_own(client, two_agents) -> None:
    alice, _bob, downline, order, taken = two_agents
    log_in_as(client, alice)
    assert order.order_no in client.get("/agent/orders").get_data(as_text=True)
    detail = client.get(f"/agent/orders/{order.order_no}").get_data(as_text=True)
    assert "已首充" in detail and "顺丰速运" in detail and order.id_card not in detail
    assert order.customer_phone not in detail and order.customer_phone[-4:] in detail
    assert downline.phone[-4:] in client.get("/agent/team").get_data(as_text=True)
    assert order.order_no in client.get("/agent/commissions").get_data(as_text=True)
    mine = client.get("/agent/withdrawals").get_data(as_text=True)
    assert f'data-withdrawal="{taken.id}"' in mine and "alice-pay" not in mine  # the account is masked


def test_b_cannot_act_on_a_withdrawal_or_shop(client, two_agents) -> None:
    alice, bob, _downline, _order, taken = two_agents
    log_in_as(client, bob)
    client.post("/agent/shop", data={"shop_name": "别人的店"})
    db.session.expire_all()
    assert db.session.get(type(alice), alice.id).shop_name == alice.shop_name
    tried = client.post(
        "/agent/withdrawals",
        data={"amount": "20.00", "payout_method": "alipay", "payout_account": "bob@example.com", "confirmed": "yes"},
    )
    assert "超过可提现余额" in tried.get_data(as_text=True)
    assert db.session.get(type(taken), taken.id).status == "requested"
