"""Order status moves: allowed ones apply, impossible ones are recorded and refused,
and a dead order gives its stock and number back."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cardshop.errors import Conflict
from cardshop.extensions import db
from cardshop.models import Order, OrderEvent, PhoneNumber, Product
from cardshop.services.fulfilment import transition

from .support import order_payload


def place(client, sku: str, n: int = 0, **extra) -> Order:  # type: ignore[no-untyped-def]
    response = client.post("/api/orders", json=order_payload(sku, n, **extra), headers={"Idempotency-Key": f"f{n}"})
    assert response.status_code == 201, response.json
    return db.session.scalars(select(Order).where(Order.order_no == response.json["order_no"])).one()


def test_an_order_moves_forward_with_its_courier(client, make_product, stock) -> None:
    make_product("T-1", stock_total=2)
    order = place(client, "T-1")
    transition(db.session, stock, order, "opening", source="ops")
    transition(db.session, stock, order, "shipped", courier="顺丰速运", tracking_no="SF123", source="ops")
    assert order.status == "shipped" and order.tracking_no == "SF123"
    assert [e.to_status for e in order.events] == ["submitted", "opening", "shipped"]


def test_an_activated_order_keeps_its_activation_time(client, make_product, stock) -> None:
    make_product("T-1", stock_total=2)
    order = place(client, "T-1")
    for target in ("opening", "shipped", "activated", "recharged"):
        transition(db.session, stock, order, target, source="upstream")
    activation = next(event for event in order.events if event.to_status == "activated")
    assert order.activated_at == activation.created_at


def test_an_impossible_move_is_recorded_and_refused(client, make_product, stock) -> None:
    make_product("T-1", stock_total=2)
    order = place(client, "T-1")
    with pytest.raises(Conflict):
        transition(db.session, stock, order, "activated", source="upstream")
    refused = db.session.scalars(select(OrderEvent).where(OrderEvent.accepted.is_(False))).one()
    assert (refused.from_status, refused.to_status) == ("submitted", "activated")
    assert db.session.get(Order, order.id).status == "submitted"


def test_a_failed_order_gives_back_its_stock_and_number(client, make_product, stock) -> None:
    product = make_product("N-1", stock_total=2, number_selectable=True)
    db.session.add(PhoneNumber(product_id=product.id, msisdn="13912345678"))
    db.session.commit()
    order = place(client, "N-1", number="13912345678")
    assert stock.counters(["N-1"]) == [[1], [1], [1]]
    transition(db.session, stock, order, "rejected", reason="身份证照片不清晰", source="upstream")
    assert db.session.scalar(select(Product.stock_sold).where(Product.sku == "N-1")) == 0
    assert stock.counters(["N-1"]) == [[2], [2], [2]]
    number = db.session.scalars(select(PhoneNumber)).one()
    assert (number.status, number.order_id) == ("free", None)
    assert db.session.get(Order, order.id).number_claim is None
    again = place(client, "N-1", 1, number="13912345678")
    assert again.msisdn == "13912345678"
