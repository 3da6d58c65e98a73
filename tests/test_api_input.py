"""Bad input gets a 4xx JSON answer naming the field, never a 500, and no lock is taken."""

from __future__ import annotations

import pytest

from .support import id_card, order_payload


@pytest.fixture
def product(make_product):  # type: ignore[no-untyped-def]
    return make_product("T-1", stock_total=5, min_age=18, max_age=60, excluded_regions=["新疆维吾尔自治区"])


def post(client, body, key="k"):  # type: ignore[no-untyped-def]
    return client.post("/api/orders", json=body, headers={"Idempotency-Key": key})


@pytest.mark.parametrize(
    ("customer", "field"),
    [
        ({"id_card": "11010519900101123"}, "customer.id_card"),  # 17 characters
        ({"id_card": id_card()[:-1] + ("0" if id_card()[-1] != "0" else "1")}, "customer.id_card"),  # check char
        ({"id_card": "110105" + "19900230" + "1231"}, "customer.id_card"),  # 30 February
        ({"id_card": id_card(birth="20150101")}, "customer.id_card"),  # 10 years old: below the range
        ({"id_card": id_card(birth="19500101")}, "customer.id_card"),  # above the range
        ({"phone": "12812345678"}, "customer.phone"),
        ({"phone": "1381234567"}, "customer.phone"),
        ({"name": ""}, "customer.name"),
    ],
)
def test_customer_rules(client, product, customer, field) -> None:
    response = post(client, order_payload("T-1", customer=customer))
    assert response.status_code == 422
    assert response.json["error"] == "invalid"
    assert field in response.json["fields"]


def test_the_documented_example_id_is_valid_but_too_old_for_the_plan(client, product) -> None:
    response = post(client, order_payload("T-1", customer={"id_card": "11010519491231002X"}))
    assert response.status_code == 422
    assert "周岁" in response.json["fields"]["customer.id_card"]


@pytest.mark.parametrize(
    ("address", "field"),
    [
        ({"detail": ""}, "address.detail"),
        ({"province": ""}, "address.province"),
        ({"district": "不存在区"}, "address.district"),
        ({"province": "新疆维吾尔自治区", "city": "乌鲁木齐市", "district": "天山区"}, "address.province"),
    ],
)
def test_address_rules(client, product, address, field) -> None:
    response = post(client, order_payload("T-1", address=address))
    assert response.status_code == 422
    assert field in response.json["fields"]


@pytest.mark.parametrize(
    ("qty", "message_part"), [(0, "之间"), (6, "之间"), ("1", "整数"), (1.5, "整数"), (True, "整数")]
)
def test_quantity_rules(client, product, qty, message_part) -> None:
    response = post(client, order_payload("T-1", qty=qty))
    assert response.status_code == 422
    assert message_part in response.json["fields"]["qty"]


def test_unknown_and_unlisted_products_are_404(client, make_product) -> None:
    make_product("HIDDEN", stock_total=5, listed=False)
    assert post(client, order_payload("NOPE")).status_code == 404
    assert post(client, order_payload("HIDDEN")).json["error"] == "not_found"
    assert client.get("/api/products/HIDDEN").status_code == 404


def test_unknown_fields_are_named(client, product) -> None:
    body = order_payload("T-1", coupon="FREE")
    body["customer"]["nickname"] = "x"
    response = post(client, body)
    assert response.status_code == 422
    assert set(response.json["fields"]) >= {"coupon", "customer.nickname"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sku": 5}, "sku"),
        ({"customer": "张三"}, "customer"),
        ({"address": ["北京"]}, "address"),
        ({"customer": {"name": 1, "id_card": "x", "phone": "1"}}, "customer.name"),
    ],
)
def test_wrong_types_are_422(client, product, body, field) -> None:
    response = post(client, {**order_payload("T-1"), **body})
    assert response.status_code == 422
    assert field in response.json["fields"]


def test_malformed_json_is_400(client, product) -> None:
    response = client.post("/api/orders", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"] == "bad_request"


def test_a_json_array_is_422(client, product) -> None:
    assert client.post("/api/orders", json=[1, 2]).status_code == 422


def test_form_encoding_is_refused(client, product) -> None:
    response = client.post("/api/orders", data={"sku": "T-1"})
    assert response.status_code == 400
    assert response.json["error"] == "bad_request"


def test_a_huge_body_is_413(client, product) -> None:
    body = order_payload("T-1", address={"detail": "长" * 100_000})
    response = post(client, body)
    assert response.status_code == 413
    assert response.json["error"] == "payload_too_large"


def test_an_overlong_idempotency_key_is_refused(client, product) -> None:
    response = post(client, order_payload("T-1"), key="k" * 200)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json["fields"]
