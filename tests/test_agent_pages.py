"""What an agent sees day to day: level and progress, balances with settlement dates, the
six-month chart, products with their commission, team, ledger filters, shop and poster.
Levels rise at once on activations and are re-evaluated at the start of a month."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from io import BytesIO

import pytest
from PIL import Image

from cardshop.extensions import db
from cardshop.models import Agent
from cardshop.services import commissions

from .agent_support import chain, deliver, log_in_as, make_agent, sell


@pytest.fixture
def app_config(app_config):  # type: ignore[no-untyped-def]
    return {**app_config, "LEVEL_THRESHOLDS": [2, 3, 4], "PUBLIC_URL": "https://ka.example.cn"}


def text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def test_two_activations_this_month_raise_a_plain_agent_at_once(client, make_product) -> None:
    make_product("T-1", stock_total=10)
    _black, plain = chain(1, 0)
    first, second = sell(client, plain), sell(client, plain)
    deliver(client, first, "submitted", "shipped", "activated")
    assert db.session.get(Agent, plain.id).level == 0
    page = text(log_in_as(client, plain).get("/agent/"))
    assert "本月激活 1 张，再激活 1 张升级为 黑钻" in page
    deliver(client, second, "submitted", "shipped", "activated")
    db.session.expire_all()
    assert db.session.get(Agent, plain.id).level == 1
    third = sell(client, plain)  # the new level pays from the next order on
    assert commissions.plan_shares([5000, 6000, 7000, 8000], [commissions.Link(plain.id, 1)])[0].amount == 6000
    assert db.session.get(Agent, plain.id).level == 1 and third.agent_id == plain.id


def test_relevel_at_month_start_follows_last_month_but_keeps_floors(app, client, make_product) -> None:
    make_product("T-1", stock_total=10)
    granted = make_agent(3)
    granted.level_floor = 3
    busy = make_agent(0, granted)
    idle = make_agent(2, granted)
    db.session.commit()
    last_month = datetime(2026, 10, 20, 4, 0, tzinfo=UTC)
    for _ in range(3):
        order = sell(client, busy)
        deliver(client, order, "submitted", "shipped")
        deliver(client, order, "activated", at=last_month)
    db.session.expire_all()
    assert db.session.get(Agent, busy.id).level == 2  # risen the moment October's third card activated
    runner = app.test_cli_runner()
    november = runner.invoke(args=["cardshop", "relevel", "--on", "2026-11-01"])
    assert "1 level change(s)" in november.output, november.output  # idle 金钻 falls
    db.session.expire_all()
    assert [db.session.get(Agent, a.id).level for a in (granted, busy, idle)] == [3, 2, 0]
    december = runner.invoke(args=["cardshop", "relevel", "--on", "2026-12-01"])
    assert "1 level change(s)" in december.output  # nothing sold in November
    db.session.expire_all()
    assert [db.session.get(Agent, a.id).level for a in (granted, busy, idle)] == [3, 0, 0]


def test_the_dashboard_shows_balances_settlement_dates_and_the_chart(client, make_product) -> None:
    make_product("T-1", stock_total=10)
    _black, plain = chain(1, 0)
    order = sell(client, plain)
    now = datetime.now(UTC)
    deliver(client, order, "submitted", "shipped")
    deliver(client, order, "activated", "recharged", at=now)
    pending = sell(client, plain)
    page = log_in_as(client, plain).get("/agent/")
    shown = text(page)
    settle_on = commissions.settle_date(now)
    assert "待结算 ¥50.00" in shown and "冻结中 ¥50.00" in shown and "可提现（已结算） ¥0.00" in shown
    assert f"{settle_on:%Y-%m-%d} ¥50.00" in shown
    svg = page.get_data(as_text=True)
    assert svg.count("<rect") == 6 and "¥100.00" in svg  # this month's bar: both orders' commission
    assert f"/agent/orders/{pending.order_no}" in svg and f"/agent/orders/{order.order_no}" in svg
    assert '<script src="http' not in svg


def test_products_show_my_commission_and_the_next_level(client, make_product) -> None:
    make_product("T-1", commission_fen=[5000, 6000, 7000, 8000])
    agent = make_agent(1)
    shown = text(log_in_as(client, agent).get("/agent/products"))
    assert "我的佣金（黑钻） ¥50.00" not in shown and "我的佣金（黑钻） ¥60.00" in shown
    assert "升级为金钻后 ¥70.00" in shown
    assert f"https://ka.example.cn/s/{agent.shop_code}?sku=T-1" in client.get("/agent/products").get_data(as_text=True)


def test_team_lists_direct_downlines_with_their_month_and_counts_everyone(client, make_product) -> None:
    make_product("T-1")
    top = make_agent(2)
    left, right = make_agent(0, top), make_agent(1, top)
    make_agent(0, left)
    order = sell(client, right)
    deliver(client, order, "submitted", "shipped", "activated")
    page = log_in_as(client, top).get("/agent/team")
    shown = text(page)
    assert "团队总人数 3" in shown and "本月激活 1" in shown and "本月激活 0" in shown
    assert f"https://ka.example.cn/agent/register?invite={top.invite_code}" in page.get_data(as_text=True)
    assert left.phone not in shown and left.phone[-4:] in shown  # masked


def test_the_ledger_filters_by_bucket_kind_and_month(client, make_product) -> None:
    make_product("T-1")
    _black, plain = chain(1, 0)
    order = sell(client, plain)
    deliver(client, order, "submitted", "shipped", "activated", "recharged")
    log_in_as(client, plain)
    everything = client.get("/agent/commissions").get_data(as_text=True)
    assert everything.count("data-entry=") == 3  # accrue, then pending -> frozen
    frozen = client.get("/agent/commissions?bucket=frozen").get_data(as_text=True)
    assert frozen.count("data-entry=") == 1 and "0.00 → 50.00" in frozen
    accrued = client.get("/agent/commissions?kind=accrue").get_data(as_text=True)
    assert accrued.count("data-entry=") == 1 and order.order_no in accrued
    last_year = (date.today() - timedelta(days=400)).strftime("%Y-%m")
    assert "暂无流水" in client.get(f"/agent/commissions?month={last_year}").get_data(as_text=True)
    assert client.get("/agent/commissions?month=2026-13").status_code == 422


def test_orders_filter_by_status_and_show_failure_reasons(client, make_product) -> None:
    make_product("T-1", stock_total=30)
    agent = make_agent(0)
    failed = sell(client, agent)
    deliver(client, failed, "submitted", "failed")
    for _ in range(21):
        sell(client, agent)
    log_in_as(client, agent)
    page = client.get("/agent/orders?status=open_failed").get_data(as_text=True)
    assert page.count("data-order=") == 1 and "号码资源不足" in page
    first, second = client.get("/agent/orders"), client.get("/agent/orders?page=2")
    assert first.get_data(as_text=True).count("data-order=") == 20
    assert second.get_data(as_text=True).count("data-order=") == 2 and "第 2 / 2 页" in text(second)
    detail = text(client.get(f"/agent/orders/{failed.order_no}"))
    assert "开卡失败" in detail and "号码资源不足" in detail


def test_the_shop_page_has_link_qr_and_a_poster_png(client) -> None:
    agent = make_agent(0)
    log_in_as(client, agent)
    page = client.get("/agent/shop").get_data(as_text=True)
    assert f'value="https://ka.example.cn/s/{agent.shop_code}"' in page and "<svg" in page
    poster = client.get("/agent/shop/poster.png")
    assert poster.mimetype == "image/png" and "attachment" in poster.headers["Content-Disposition"]
    assert Image.open(BytesIO(poster.data)).size == (750, 1200)
    client.post("/agent/shop", data={"shop_name": "阿强号卡"})
    assert "阿强号卡" in client.get("/agent/shop").get_data(as_text=True)
    assert "2–20" in client.post("/agent/shop", data={"shop_name": "阿"}).get_data(as_text=True)
