"""The shop front's pages through the test client: catalogue, agent shops and their
attribution, product terms, the order form, confirmation, lookup, and the quorum lost."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select

from cardshop import create_app
from cardshop.extensions import db
from cardshop.models import Agent, Order, PhoneNumber

from .support import order_payload
from .test_risk import error_next_to, form_data


@pytest.fixture
def catalogue(make_product):  # type: ignore[no-untyped-def]
    plans = {
        "flash": make_product(
            "FLASH-1",
            stock_total=3,
            name="联通秒杀卡",
            carrier="unicom",
            promo_tag="限时秒杀",
            contract_months=12,
            early_termination_fee_fen=5000,
            first_recharge_fen=5000,
            recharge_rebate_rule="首充50元分5个月返还",
            first_month_billing="首月按天折算",
            number_region="广东广州",
            excluded_regions=["新疆维吾尔自治区"],
        ),
        "gone": make_product("GONE-1", stock_total=0, name="电信已抢完卡", carrier="telecom"),
        "pick": make_product("PICK-1", stock_total=5, name="移动选号卡", carrier="mobile", number_selectable=True),
    }
    db.session.add_all(
        PhoneNumber(product_id=plans["pick"].id, msisdn=m) for m in ("13912348888", "13912341234", "13912340001")
    )
    db.session.add(
        Agent(phone="13800000168", invite_code="00168", shop_code="top168", shop_name="号卡总店", verified=True)
    )
    db.session.add(Agent(phone="13800000169", invite_code="00169", shop_code="newbie", shop_name="新人小店"))
    db.session.commit()
    return plans


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def test_the_catalogue_shows_plans_with_live_stock_badges(client, catalogue) -> None:
    html = text(client.get("/"))
    assert "联通秒杀卡" in html and "电信已抢完卡" in html
    assert "仅剩 3 张" in html and "已售罄" in html
    assert "限时秒杀" in html and "通用流量" in html and "定向流量" in html


def test_an_agent_link_attributes_orders_for_30_days(client, catalogue) -> None:
    response = client.get("/s/top168")
    assert response.status_code == 200 and "号卡总店" in text(response)
    cookie = response.headers["Set-Cookie"]
    assert "Max-Age=2592000" in cookie and "HttpOnly" in cookie
    assert "您正在 <strong>号卡总店</strong> 选购" in text(client.get("/p/FLASH-1"))  # also on other pages
    placed = client.post("/p/FLASH-1/order", data=form_data(1))
    assert placed.status_code == 303
    order = db.session.scalars(select(Order)).one()
    assert order.shop_code == "top168" and order.agent_id is not None


def test_a_tampered_shop_cookie_attributes_nothing(client, catalogue) -> None:
    client.set_cookie("cs_shop", "top168")
    assert client.post("/p/FLASH-1/order", data=form_data(2)).status_code == 303
    assert db.session.scalars(select(Order)).one().shop_code is None


@pytest.mark.parametrize("code", ["nobody", "newbie"])
def test_an_unknown_or_unverified_shop_gets_a_friendly_page(client, catalogue, code) -> None:
    response = client.get(f"/s/{code}")
    assert response.status_code == 404
    assert "店铺未开通" in text(response) and "Set-Cookie" not in response.headers


def test_the_product_page_states_every_term(client, catalogue) -> None:
    html = text(client.get("/p/FLASH-1"))
    for term in (
        "前 12 个月",
        "¥39/月",
        "12 个月；合约期内销户或转套餐需支付违约金",
        "¥50",
        "首充50元分5个月返还",
        "首月按天折算",
        "16–60 周岁",
        "新疆维吾尔自治区",
        "广东广州",
    ):
        assert term in html, term


def test_a_sold_out_product_says_so_and_offers_others(client, catalogue) -> None:
    html = text(client.get("/p/GONE-1"))
    assert "该套餐已售罄" in html
    assert 'href="/p/FLASH-1"' in html and "立即办理" not in html
    assert "仅剩 3 张" in html and "仅剩 5 张" in html  # what is really left of the others
    assert client.get("/p/GONE-1/order").status_code == 303


def test_an_unknown_product_is_a_404_page(client, catalogue) -> None:
    response = client.get("/p/NOPE")
    assert response.status_code == 404 and "没有找到该套餐" in text(response)


def test_picking_a_number_holds_it_and_leads_to_the_form(app, client, catalogue) -> None:
    assert client.get("/p/PICK-1/order").headers["Location"].endswith("/p/PICK-1#numbers")
    html = text(client.get("/p/PICK-1"))
    assert "139 1234 8888" in html and "AAAA" in html and "ABCD" in html
    held = client.post("/p/PICK-1/numbers/13912348888/hold")
    assert held.headers["Location"].endswith("/p/PICK-1/order")
    form = text(client.get("/p/PICK-1/order"))
    assert "13912348888" in form and re.search(r'class="countdown" data-expires="\d+">(09:5\d|10:00)<', form)
    other = app.test_client()
    assert "13912348888" not in text(other.get("/p/PICK-1"))
    taken = other.post("/p/PICK-1/numbers/13912348888/hold")
    assert taken.status_code == 303
    assert "已被他人选走" in text(other.get(taken.headers["Location"]))
    assert client.post("/p/PICK-1/order", data=form_data(3)).status_code == 303
    assert db.session.scalars(select(Order.msisdn)).one() == "13912348888"


def test_a_mistake_is_shown_next_to_its_field_and_keeps_the_rest(client, catalogue) -> None:
    response = client.post("/p/FLASH-1/order", data=form_data(4, id_card="11010519900101123"))
    assert response.status_code == 422
    html = text(response)
    assert "18位" in error_next_to(html, "id_card")
    assert 'value="13800000004"' in html and 'value="科技园科苑路15号"' in html
    assert '<option selected value="深圳市">' in html and '<option selected value="南山区">' in html
    assert db.session.scalar(select(func.count(Order.id))) == 0


def test_the_agreement_box_must_be_ticked(client, catalogue) -> None:
    data = form_data(5)
    del data["agree"]
    response = client.post("/p/FLASH-1/order", data=data)
    assert response.status_code == 422 and "请阅读并勾选同意" in error_next_to(text(response), "agree")


def test_a_city_without_districts_takes_an_empty_district(client, catalogue) -> None:
    data = form_data(6, province="广东省", city="东莞市", district="")
    assert client.post("/p/FLASH-1/order", data=data).status_code == 303
    wrong = client.post("/p/FLASH-1/order", data=form_data(7, city="杭州市"))
    assert "城市与省份不匹配" in error_next_to(text(wrong), "city")
    missing = client.post("/p/FLASH-1/order", data=form_data(8, district=""))
    assert "请选择区/县" in error_next_to(text(missing), "district")


def test_a_resubmitted_form_makes_one_order(client, catalogue) -> None:
    data = form_data(9)
    first = client.post("/p/FLASH-1/order", data=data)
    again = client.post("/p/FLASH-1/order", data=data)
    assert first.headers["Location"] == again.headers["Location"]
    assert db.session.scalar(select(func.count(Order.id))) == 1
    changed = client.post("/p/FLASH-1/order", data={**data, "detail": "另一个地址1号"})
    assert changed.status_code == 409 and "已提交过订单" in text(changed)


def test_the_confirmation_shows_the_order_masked_to_its_browser_only(app, client, catalogue) -> None:
    location = client.post("/p/FLASH-1/order", data=form_data(10)).headers["Location"]
    html = text(client.get(location))
    order = db.session.scalars(select(Order)).one()
    assert order.order_no in html and "订单已提交" in html
    assert "138****0010" in html and "张*" in html and order.id_card not in html
    assert order.id_card[:6] + "********" + order.id_card[-4:] in html
    assert "已提交" in html and "开卡中" in html  # the timeline, with the steps ahead
    assert app.test_client().get(location).headers["Location"].endswith("/orders/lookup")


def test_lookup_finds_orders_and_reveals_nothing_on_wrong_details(client, catalogue) -> None:
    client.post("/api/orders", json=order_payload("FLASH-1", 11), headers={"Idempotency-Key": "k11"})
    order = db.session.scalars(select(Order)).one()
    found = client.post("/orders/lookup", data={"phone": "13800000011", "id_tail": order.id_card[-6:]})
    assert found.status_code == 200 and order.order_no in text(found) and "已提交" in text(found)
    wrong_id = client.post("/orders/lookup", data={"phone": "13800000011", "id_tail": "000000"})
    nobody = client.post("/orders/lookup", data={"phone": "13900000000", "id_tail": order.id_card[-6:]})
    assert wrong_id.status_code == nobody.status_code == 200

    def answer(response) -> str:  # type: ignore[no-untyped-def]
        return re.sub(r'value="[^"]*"', "", text(response))  # the form keeps what was typed

    assert answer(wrong_id) == answer(nobody)
    assert order.order_no not in text(wrong_id)
    malformed = client.post("/orders/lookup", data={"phone": "123", "id_tail": "12"})
    assert malformed.status_code == 422


def test_the_lookup_is_rate_limited(app_config, catalogue) -> None:
    limited = create_app({**app_config, "RATELIMIT_ENABLED": True, "LOOKUP_RATE_LIMIT": "3 per minute"})
    client = limited.test_client()
    details = {"phone": "13800000001", "id_tail": "123456"}
    codes = [client.post("/orders/lookup", data=details).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert "操作过于频繁" in text(client.post("/orders/lookup", data={"phone": "13800000001", "id_tail": "123456"}))
    assert client.get("/orders/lookup").status_code == 200  # reading the form is not limited


def test_without_the_stock_quorum_the_catalogue_renders_and_ordering_is_a_kind_503(client, catalogue, nodes) -> None:
    nodes.nodes[0].kill()
    nodes.nodes[1].kill()
    home = client.get("/")
    assert home.status_code == 200 and "仅剩 3 张" in text(home)  # from the database
    refused = client.post("/p/FLASH-1/order", data=form_data(12))
    assert refused.status_code == 503
    assert "库存服务暂时不可用" in text(refused) and "Traceback" not in text(refused)
    assert client.post("/p/PICK-1/numbers/13912348888/hold").status_code == 503
    assert "选号服务暂时不可用" in text(client.get("/p/PICK-1"))
    assert db.session.scalar(select(func.count(Order.id))) == 0


def test_a_busy_or_sold_out_plan_keeps_the_form(client, catalogue) -> None:
    for n in range(3):
        assert client.post("/p/FLASH-1/order", data=form_data(20 + n)).status_code == 303
    response = client.post("/p/FLASH-1/order", data=form_data(30))
    assert response.status_code == 409 and "该套餐已售罄" in text(response)
    assert 'value="13800000030"' in text(response)


def test_the_form_token_is_fresh_each_time(client, catalogue) -> None:
    tokens = {re.search(r'name="token" type="hidden" value="(\w+)"', text(client.get("/p/FLASH-1/order"))).group(1)}
    tokens.add(re.search(r'name="token" type="hidden" value="(\w+)"', text(client.get("/p/FLASH-1/order"))).group(1))
    assert len(tokens) == 2 and all(len(t) == 32 for t in tokens)
    assert uuid.UUID(tokens.pop())


def test_lookup_shows_a_failed_order_with_its_reason(client, catalogue, stock) -> None:
    from cardshop.services.fulfilment import transition

    client.post("/api/orders", json=order_payload("FLASH-1", 12), headers={"Idempotency-Key": "k12"})
    order = db.session.scalars(select(Order)).one()
    transition(db.session, stock, order, "rejected", reason="身份证信息与公安系统不一致", source="upstream")
    html = text(client.post("/orders/lookup", data={"phone": "13800000012", "id_tail": order.id_card[-6:]}))
    assert "审核失败" in html and "原因：身份证信息与公安系统不一致" in html
    assert "开卡中" not in html  # a dead order has no steps ahead


def test_holding_numbers_is_rate_limited_against_hoarding(app_config, catalogue) -> None:
    limited = create_app({**app_config, "RATELIMIT_ENABLED": True, "HOLD_RATE_LIMIT": "2 per minute"})
    numbers = ["13912348888", "13912341234", "13912340001"]
    # A bot dropping its cookies each time still comes from one address.
    codes = [limited.test_client().post(f"/api/products/PICK-1/numbers/{n}/hold").status_code for n in numbers]
    assert codes == [200, 200, 429]
    page = limited.test_client().post("/p/PICK-1/numbers/13912340001/hold")
    assert page.status_code == 429 and "操作过于频繁" in text(page)


def test_a_selectable_plan_cannot_be_ordered_without_a_number(client, catalogue) -> None:
    response = client.post("/p/PICK-1/order", data=form_data(13))
    assert response.status_code == 303 and response.headers["Location"].endswith("/p/PICK-1#numbers")
    assert db.session.scalar(select(func.count(Order.id))) == 0
