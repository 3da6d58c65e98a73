"""An operator's day in Debian's Chromium, against real gunicorn, three real Redis
nodes and the database: log in, create a product, import numbers (one bad line is
reported and nothing goes in), restock, see an order arrive, ship it, and watch the
system status page as one Redis node dies (selling goes on) and then a second
(quorum lost, said plainly)."""

from __future__ import annotations

from datetime import date

import pytest
import requests
from sqlalchemy import select

from cardshop import runtime
from cardshop.extensions import db
from cardshop.models import Agent, Order, PhoneNumber, Withdrawal
from cardshop.services import commissions, withdrawals
from cardshop.services.admins import create_admin

from .agent_support import chain, deliver, sell
from .ops_fixtures import fast_hashing  # noqa: F401
from .support import order_payload

pytestmark = [pytest.mark.browser, pytest.mark.gunicorn]

DESKTOP = {"viewport": {"width": 1440, "height": 900}, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}


@pytest.fixture
def desk(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(**DESKTOP)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def settled_withdrawal(client, stock) -> Withdrawal:  # type: ignore[no-untyped-def]
    """An agent who sold two cards that were activated, recharged and settled, asking for 80 yuan."""
    _, agent = chain(1, 0)
    for _ in range(2):
        deliver(client, sell(client, agent, sku="T-1"), "submitted", "shipped", "activated", "recharged")
    commissions.settle_due(db.session, stock, date(2100, 1, 1))
    policy = withdrawals.Policy(min_fen=1000, fee_permille=60, interval_days=7)
    agent = db.session.get(Agent, agent.id)
    return withdrawals.request_withdrawal(
        db.session, runtime.runtime().locks.hold, agent, 8000, policy=policy, method="alipay", account="a@b.cn"
    )


@pytest.mark.usefixtures("fast_hashing")
def test_an_operators_day(app, client, stock, make_product, serve, nodes, desk, screenshot, tmp_path) -> None:
    create_admin(db.session, "ops-wang", "correct-horse-battery", name="运营小王")
    make_product("T-1", stock_total=10)  # what the agent below sells
    server = serve(workers=2)
    page = desk

    page.goto(f"{server.url}/ops/orders")
    assert page.url.startswith(f"{server.url}/ops/login")
    page.fill("#username", "ops-wang")
    page.fill("#password", "correct-horse-battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/ops/orders")
    assert "运营小王" in page.locator("header").inner_text()

    # A new product, every section of the form.
    page.click("text=商品与库存")
    page.click("text=新建商品")
    for field, value in {
        "#f-sku": "CM-DAY-39",
        "#f-name": "移动日租卡 39元",
        "#f-tagline": "200G通用流量",
        "#f-monthly_fee": "39",
        "#f-fee_after_promo": "59",
        "#f-promo_months": "12",
        "#f-general_data_gb": "200",
        "#f-excluded_regions": "西藏自治区",
        "#f-commission_0": "50",
        "#f-commission_1": "70",
        "#f-commission_2": "85",
        "#f-commission_3": "100",
    }.items():
        page.fill(field, value)
    page.select_option("#f-carrier", "mobile")
    page.check("input[name=number_selectable]")
    screenshot(page, "1-new-product")
    page.click("text=创建商品")
    page.wait_for_url("**/ops/products/CM-DAY-39")
    assert page.locator("#stock-total").inner_text() == "0"

    # A number file with one bad line: reported by line, nothing imported.
    bad = tmp_path / "numbers-bad.csv"
    bad.write_text("号码\n13912340001\n13912340002\n1391234000\n13912340004\n", encoding="utf-8")
    page.set_input_files("input[name=file]", str(bad))
    page.click("text=上传导入")
    problems = page.locator("#import-problems")
    assert "第 4 行「1391234000」：不是有效的11位手机号" in problems.inner_text()
    screenshot(page, "2-import-refused")
    assert db.session.scalar(select(PhoneNumber.id).limit(1)) is None
    good = tmp_path / "numbers.csv"
    good.write_text("号码\n13912340001\n13912340002\n13912340003\n13912340004\n", encoding="utf-8")
    page.set_input_files("input[name=file]", str(good))
    page.click("text=上传导入")
    assert "已导入 4 个号码" in page.locator(".flash").inner_text()

    # Restock: the ledger says who added what.
    page.fill("input[name=qty]", "50")
    page.fill("input[name=note]", "首批到货")
    page.click("button:has-text('补货')")
    page.wait_for_selector("#ledger >> text=首批到货")
    assert page.locator("#stock-available").inner_text() == "50"
    assert "admin:ops-wang" in page.locator("#ledger").inner_text()
    screenshot(page, "3-restocked")

    # An order arrives from a customer.
    placed = requests.post(
        f"{server.url}/api/orders",
        json=order_payload("CM-DAY-39", 7, number="13912340003"),
        headers={"Idempotency-Key": "day-1"},
        timeout=10,
    )
    assert placed.status_code == 201, placed.text
    order_no = placed.json()["order_no"]
    page.click("text=订单")
    page.wait_for_selector(f"#orders >> text={order_no}")
    screenshot(page, "4-order-arrived")
    page.click(f"text={order_no}")
    page.click("text=提交上游")
    assert page.locator("#order-status").inner_text() == "开卡中"
    page.select_option("select[name=courier]", "顺丰速运")
    page.fill("input[name=tracking_no]", "SF1234567890")
    page.click("button:has-text('发货')")
    assert page.locator("#order-status").inner_text() == "已发货"
    screenshot(page, "5-shipped")
    db.session.expire_all()
    order = db.session.scalars(select(Order).where(Order.order_no == order_no)).one()
    assert (order.status, order.tracking_no) == ("shipped", "SF1234567890")

    # An agent asks for their settled commission; the operator approves it.
    taken = settled_withdrawal(client, stock)
    page.click("text=提现审核")
    row = page.locator(f"tr[data-withdrawal='{taken.id}']")
    assert "¥75.20" in row.inner_text() and "审核中" in row.inner_text()
    row.locator("button:has-text('通过')").click()
    assert f"提现 #{taken.id} 已通过" in page.locator(".flash").inner_text()
    page.click("text=已通过，待打款")
    assert "已通过，待打款" in page.locator(f"tr[data-withdrawal='{taken.id}']").inner_text()
    screenshot(page, "6-withdrawal-approved")
    db.session.expire_all()
    assert db.session.get(Withdrawal, taken.id).status == "approved"

    # System status: all up, then one node down, then two.
    page.click("text=系统状态")
    assert "可以正常售卖：Redis 3/3" in page.locator("#verdict").inner_text()
    nodes.nodes[2].kill()
    page.reload()
    assert "可以正常售卖：Redis 2/3" in page.locator("#verdict").inner_text()
    assert "离线" in page.locator("tr[data-node='2']").inner_text()
    assert "在线" in page.locator("tr[data-node='0']").inner_text()
    screenshot(page, "7-one-node-down")
    nodes.nodes[1].kill()
    page.reload()
    verdict = page.locator("#verdict")
    assert "仲裁丢失，已停止售卖" in verdict.inner_text()
    assert verdict.evaluate("e => getComputedStyle(e).color") == "rgb(179, 20, 28)"
    screenshot(page, "8-quorum-lost")
