"""The shop in a real browser: Debian's Chromium on a phone viewport, against the app
under real gunicorn with three Redis nodes. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import re
import time

import pytest
import requests
from sqlalchemy import func, select

from cardshop.extensions import db
from cardshop.models import Order

from .support import id_card
from .test_shop_pages import catalogue  # noqa: F401 - the shared catalogue fixture

pytestmark = [pytest.mark.browser, pytest.mark.gunicorn]

CUSTOMER = {"name": "李小龙", "phone": "13912345678", "detail": "科技园科苑路15号"}


def valid_id() -> str:
    return id_card(birth="19900101", seq="123", region="440305")


def fill_order_form(page, id_card: str, city: str = "深圳市", district: str | None = "南山区") -> None:  # type: ignore[no-untyped-def]
    page.fill("#name", CUSTOMER["name"])
    page.fill("#id_card", id_card)
    page.fill("#phone", CUSTOMER["phone"])
    page.select_option("#province", "广东省")
    page.select_option("#city", city)
    if district is None:  # a city without districts: the select steps aside
        assert page.locator("#district").is_disabled()
    else:
        page.select_option("#district", district)
    page.fill("#detail", CUSTOMER["detail"])
    page.check("#agree")


def chinese_glyphs_render(page) -> bool:  # type: ignore[no-untyped-def]
    """Two different characters draw differently: real glyphs, not the same tofu box."""
    return bool(
        page.evaluate(
            """() => {
                const draw = (ch) => {
                    const canvas = document.createElement("canvas");
                    canvas.width = canvas.height = 40;
                    const pen = canvas.getContext("2d");
                    pen.font = "32px sans-serif";
                    pen.fillText(ch, 2, 32);
                    return canvas.toDataURL();
                };
                return draw("号") !== draw("卡") && draw("卡") !== draw("商");
            }"""
        )
    )


def seconds_shown(page) -> int:  # type: ignore[no-untyped-def]
    minutes, seconds = page.locator(".countdown").first.inner_text().split(":")
    return int(minutes) * 60 + int(seconds)


def test_a_customer_buys_a_picked_number_from_an_agent_link(serve, app, catalogue, phone, screenshot) -> None:  # noqa: F811
    server = serve(workers=2)
    page = phone().new_page()
    page.goto(f"{server.url}/s/top168")
    assert page.locator(".shop-bar").inner_text().startswith("您正在 号卡总店 选购")
    assert chinese_glyphs_render(page)
    screenshot(page, "1-agent-shop")

    page.click("text=移动选号卡")
    page.wait_for_url("**/p/PICK-1")
    assert page.locator(".terms").is_visible()
    screenshot(page, "2-product")

    page.click("button[data-msisdn='13912348888']")
    page.wait_for_url("**/p/PICK-1/order")
    assert "13912348888" in page.locator(".held").inner_text()
    first = seconds_shown(page)
    assert 590 <= first <= 600
    time.sleep(1.3)
    assert seconds_shown(page) < first  # the countdown runs
    screenshot(page, "3-order-form-hold")

    # Someone else, in another browser, can neither see nor take the held number.
    rival = phone().new_page()
    rival.goto(f"{server.url}/p/PICK-1")
    assert rival.locator("button[data-msisdn='13912348888']").count() == 0
    assert rival.locator("button[data-msisdn='13912341234']").count() == 1
    taken = rival.request.post(f"{server.url}/api/products/PICK-1/numbers/13912348888/hold")
    assert taken.status == 409 and taken.json()["error"] == "number_taken"

    fill_order_form(page, valid_id()[:-1])  # one character short
    page.click("#submit-order")
    page.wait_for_selector("#id_card-error")
    assert "18位" in page.locator(".field:has(#id_card) .field-error").inner_text()
    assert page.input_value("#name") == CUSTOMER["name"]
    assert page.input_value("#phone") == CUSTOMER["phone"]
    assert page.input_value("#detail") == CUSTOMER["detail"]
    assert (page.input_value("#province"), page.input_value("#city"), page.input_value("#district")) == (
        "广东省",
        "深圳市",
        "南山区",
    )
    screenshot(page, "4-inline-error")

    page.fill("#id_card", valid_id())
    page.check("#agree")
    page.click("#submit-order")
    page.wait_for_url(re.compile(r".*/orders/\d{20}$"))
    order_no = page.locator(".order-no").inner_text()
    assert "订单已提交" in page.locator("h1").inner_text()
    assert "139****5678" in page.content() and valid_id() not in page.content()
    screenshot(page, "5-confirmation")

    page.click("text=查询订单")
    page.fill("#phone", CUSTOMER["phone"])
    page.fill("#id_tail", valid_id()[-6:])
    page.click("button:has-text('查询')")
    page.wait_for_selector(".order-details")
    assert order_no in page.locator(".order-details").inner_text()
    screenshot(page, "6-lookup")

    db.session.expire_all()
    order = db.session.scalars(select(Order)).one()
    assert (order.order_no, order.msisdn, order.shop_code) == (order_no, "13912348888", "top168")


def test_a_sold_out_plan_offers_others(serve, app, catalogue, phone, screenshot) -> None:  # noqa: F811
    server = serve(workers=1)
    page = phone().new_page()
    page.goto(f"{server.url}/p/GONE-1")
    assert page.locator(".soldout-box h2").inner_text() == "该套餐已售罄"
    assert page.locator("a.plan[href='/p/FLASH-1']").is_visible()
    assert page.locator(".buybar").count() == 0
    screenshot(page, "sold-out")


def test_a_double_clicked_submit_places_one_order(serve, app, catalogue, phone, screenshot) -> None:  # noqa: F811
    server = serve(workers=2, CARDSHOP_LOCK_WAIT="3")  # the twin waits for the first, even on a busy machine
    page = phone().new_page()
    page.goto(f"{server.url}/p/FLASH-1/order")
    fill_order_form(page, valid_id(), city="东莞市", district=None)
    page.dblclick("#submit-order")
    page.wait_for_url(re.compile(r".*/orders/\d{20}$"))
    screenshot(page, "confirmation")
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Order.id))) == 1
    assert db.session.scalars(select(Order.city)).one() == "东莞市"

    # Without the page's guard (a browser sending the form twice), the server still
    # makes one order of one form.
    other = phone().new_page()
    other.goto(f"{server.url}/p/FLASH-1/order")
    fill_order_form(other, id_card(birth="19851212", seq="456", region="440305"))
    other.fill("#phone", "13712345678")
    posts: list[str] = []
    other.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    # The browser sends the same form twice at once; both copies are on the wire before
    # either is answered, whatever the server's speed.
    landed = other.evaluate(
        """async () => {
            const form = document.getElementById('order-form');
            const send = () => fetch(form.action, {method: 'POST', body: new FormData(form)});
            const answers = await Promise.all([send(), send()]);
            return answers.map(answer => [answer.status, answer.url]);
        }"""
    )
    assert len(posts) == 2
    assert [status for status, _ in landed] == [200, 200]
    assert landed[0][1] == landed[1][1] and re.search(r"/orders/\d{20}$", landed[0][1]), landed
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Order.id))) == 2
    assert requests.get(f"{server.url}/api/products/FLASH-1", timeout=5).json()["available"] == 1
