"""Risk rules at ordering, each through the API and through the order form: the
blocklist, one order per ID per carrier per 30 days, 一证五户, age range and regions."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from cardshop import runtime
from cardshop.extensions import db
from cardshop.models import BlockEntry, Order
from cardshop.services import order_input
from cardshop.services.orders import place_order

from .support import id_card, order_payload


def form_data(n: int = 0, **overrides: str) -> dict[str, str]:
    """What a customer types into the order form (the same person as order_payload(n))."""
    payload = order_payload("X", n)
    data = {
        "name": payload["customer"]["name"],
        "id_card": payload["customer"]["id_card"],
        "phone": payload["customer"]["phone"],
        **payload["address"],
        "agree": "y",
        "token": uuid.uuid4().hex,
    }
    return {**data, **overrides}


def submit_form(client, sku: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post(f"/p/{sku}/order", data=data)


def error_next_to(html: str, field: str) -> str:
    """The inline error shown under one input."""
    found = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', html)
    assert found, f"no error shown next to {field}"
    return found.group(1)


def orders_count() -> int:
    return db.session.scalar(select(func.count(Order.id))) or 0


@pytest.fixture
def plan(make_product):  # type: ignore[no-untyped-def]
    return make_product(
        "RISK-1", stock_total=50, carrier="unicom", min_age=18, max_age=60, excluded_regions=["西藏自治区"]
    )


def api_order(client, n: int = 0, **overrides):  # type: ignore[no-untyped-def]
    payload = order_payload("RISK-1", n, **overrides)
    return client.post("/api/orders", json=payload, headers={"Idempotency-Key": uuid.uuid4().hex})


# ------------------------------------------------------------------ blocklist


def test_a_blocked_id_number_cannot_order_through_the_api(app, client, plan) -> None:
    runner = app.test_cli_runner()
    blocked = order_payload("RISK-1", 3)["customer"]["id_card"]
    result = runner.invoke(args=["cardshop", "block", "add", "id_card", blocked, "--reason", "身份盗用"])
    assert result.exit_code == 0, result.output
    response = api_order(client, 3)
    assert response.status_code == 422
    assert response.json["error"] == "risk_refused"
    assert "customer.id_card" in response.json["fields"]
    assert orders_count() == 0
    assert api_order(client, 4).status_code == 201  # someone else is not affected


def test_a_blocked_phone_is_refused_next_to_the_phone_field(app, client, plan) -> None:
    app.test_cli_runner().invoke(args=["cardshop", "block", "add", "phone", "13800000005", "--reason", "恶意下单"])
    response = submit_form(client, "RISK-1", form_data(5))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "暂不能下单" in error_next_to(html, "phone")
    assert 'value="13800000005"' in html  # what the customer typed is kept
    assert orders_count() == 0


def test_a_blocked_id_number_is_shown_next_to_the_id_field(app, client, plan) -> None:
    blocked = order_payload("RISK-1", 15)["customer"]["id_card"]
    app.test_cli_runner().invoke(args=["cardshop", "block", "add", "id_card", blocked, "--reason", "冒用"])
    response = submit_form(client, "RISK-1", form_data(15))
    assert response.status_code == 422
    assert "暂不能办理" in error_next_to(response.get_data(as_text=True), "id_card")
    assert orders_count() == 0


def test_a_blocked_phone_cannot_order_through_the_api(app, client, plan) -> None:
    app.test_cli_runner().invoke(args=["cardshop", "block", "add", "phone", "13800000016", "--reason", "恶意下单"])
    response = api_order(client, 16)
    assert response.status_code == 422 and response.json["error"] == "risk_refused"
    assert set(response.json["fields"]) == {"customer.phone"}
    assert orders_count() == 0


def test_the_rules_follow_the_configuration(app, client, plan) -> None:
    app.config["RISK_WINDOW_DAYS"] = 1
    five_old_orders(17)  # forty days apart: outside even the default window
    app.config["RISK_MAX_LIVE_PER_CARRIER"] = 6
    assert api_order(client, 17).status_code == 201


def test_the_block_command_lists_and_removes_entries(app, client, plan) -> None:
    runner = app.test_cli_runner()
    value = order_payload("RISK-1", 7)["customer"]["id_card"]
    runner.invoke(args=["cardshop", "block", "add", "id_card", value.lower(), "--reason", "团伙刷单"])
    runner.invoke(args=["cardshop", "block", "add", "phone", "13900000001", "--reason", "投诉"])
    listing = runner.invoke(args=["cardshop", "block", "list"]).output
    assert "团伙刷单" in listing and value not in listing and "139****0001" in listing
    assert value in runner.invoke(args=["cardshop", "block", "list", "--unmasked"]).output
    assert runner.invoke(args=["cardshop", "block", "add", "id_card", "123", "--reason", "x"]).exit_code != 0
    assert runner.invoke(args=["cardshop", "block", "remove", "id_card", value]).exit_code == 0
    assert db.session.scalar(select(func.count(BlockEntry.id))) == 1
    assert api_order(client, 7).status_code == 201


# ------------------------------------------------------- one per 30 days


def test_a_second_order_within_30_days_is_refused_through_the_api(client, plan) -> None:
    assert api_order(client, 1).status_code == 201
    second = api_order(client, 1, customer={"phone": "13912345678"})
    assert second.status_code == 422 and second.json["error"] == "risk_refused"
    assert "30天内只能办理1张中国联通号卡" in second.json["fields"]["customer.id_card"]
    assert orders_count() == 1


def test_a_second_order_within_30_days_is_refused_on_the_form(client, plan) -> None:
    assert submit_form(client, "RISK-1", form_data(1)).status_code == 303
    response = submit_form(client, "RISK-1", form_data(1, phone="13912345678"))
    assert response.status_code == 422
    assert "30天内只能办理1张" in error_next_to(response.get_data(as_text=True), "id_card")
    assert orders_count() == 1


def test_the_same_person_racing_two_orders_gets_one(app, plan) -> None:
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def send(phone: str) -> None:
        with app.app_context():
            barrier.wait()
            codes.append(api_order(app.test_client(), 9, customer={"phone": phone}).status_code)

    threads = [threading.Thread(target=send, args=(p,)) for p in ("13700000001", "13700000002")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) in ([201, 422], [201, 503])
    db.session.expire_all()
    assert orders_count() == 1


def test_the_same_person_racing_many_orders_over_plans_of_one_carrier_gets_one(app, plan, make_product) -> None:
    """Each plan sells in its own batch under its own lock, so the rules must hold across
    batches: the database's one writer (SQLite) or a per-person advisory lock (PostgreSQL)."""
    for i in range(2, 5):
        make_product(f"RISK-{i}", stock_total=50, carrier="unicom")
    barrier = threading.Barrier(8)
    codes: list[int] = []

    def send(attempt: int) -> None:
        with app.app_context():
            barrier.wait()
            payload = order_payload(f"RISK-{attempt % 4 + 1}", 9, customer={"phone": f"1370000{attempt:04d}"})
            response = app.test_client().post("/api/orders", json=payload, headers={"Idempotency-Key": f"r-{attempt}"})
            codes.append(response.status_code)
            db.session.remove()

    threads = [threading.Thread(target=send, args=(attempt,)) for attempt in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes.count(201) == 1
    assert set(codes) <= {201, 422}
    db.session.expire_all()
    assert orders_count() == 1


# ------------------------------------------------------------- 一证五户


def five_old_orders(n: int) -> None:
    """Five live orders for one person, each more than 30 days before the next."""
    stock = runtime.stock()
    for months in reversed(range(5)):
        order = order_input.parse(order_payload("RISK-1", n), max_qty=5)
        at = datetime.now(UTC) - timedelta(days=40 * (months + 1))
        place_order(db.session, stock, order, idempotency_key=f"old-{n}-{months}", now=at)


def test_a_sixth_live_number_with_one_carrier_is_refused_through_the_api(client, plan, make_product) -> None:
    five_old_orders(2)
    response = api_order(client, 2)
    assert response.status_code == 422
    assert "一证五户" in response.json["fields"]["customer.id_card"]
    other_carrier = make_product("RISK-2", stock_total=5, carrier="telecom")
    assert other_carrier.carrier != plan.carrier
    ok = client.post("/api/orders", json=order_payload("RISK-2", 2), headers={"Idempotency-Key": "other"})
    assert ok.status_code == 201  # the limit is per carrier


def test_a_sixth_live_number_is_refused_on_the_form(client, plan) -> None:
    five_old_orders(6)
    response = submit_form(client, "RISK-1", form_data(6))
    assert response.status_code == 422
    assert "最多办理5个号码" in error_next_to(response.get_data(as_text=True), "id_card")
    assert orders_count() == 5


def test_a_dead_order_frees_a_place_under_the_limit(client, plan) -> None:
    five_old_orders(8)
    last = db.session.scalars(select(Order).order_by(Order.id.desc())).first()
    assert last is not None
    from cardshop.services.fulfilment import transition

    transition(db.session, runtime.stock(), last, "cancelled", reason="客户取消")
    assert api_order(client, 8).status_code == 201


# ----------------------------------------------------- age and regions


def test_age_outside_the_range_is_refused_through_the_api(client, plan) -> None:
    young = id_card(birth=f"{datetime.now(UTC).year - 17}0101", seq="011")
    response = api_order(client, 11, customer={"id_card": young})
    assert response.status_code == 422
    assert "18 至 60 周岁" in response.json["fields"]["customer.id_card"]


def test_age_outside_the_range_is_shown_next_to_the_id_field(client, plan) -> None:
    old = id_card(birth="19500101", seq="012")
    response = submit_form(client, "RISK-1", form_data(12, id_card=old))
    assert response.status_code == 422
    assert "18 至 60 周岁" in error_next_to(response.get_data(as_text=True), "id_card")


def test_an_excluded_region_is_refused_through_the_api(client, plan) -> None:
    address = {"province": "西藏自治区", "city": "拉萨市", "district": "城关区", "detail": "北京中路1号"}
    response = api_order(client, 13, address=address)
    assert response.status_code == 422
    assert "暂不支持发货到西藏自治区" in response.json["fields"]["address.province"]


def test_an_excluded_region_is_shown_next_to_the_province(client, plan) -> None:
    data = form_data(14, province="西藏自治区", city="拉萨市", district="城关区")
    response = submit_form(client, "RISK-1", data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "暂不支持发货到西藏自治区" in error_next_to(html, "province")
    assert '<option selected value="城关区">' in html  # the chosen district is kept
