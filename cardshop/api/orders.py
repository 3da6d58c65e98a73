"""Placing and reading orders."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import current_app, jsonify, request

from .. import runtime
from ..errors import BadRequest, Invalid
from ..extensions import db
from ..services import order_input, orders
from ..services.risk import RiskRules
from . import bp

IDEMPOTENCY_KEY_MAX = 80


def json_body() -> Any:
    if not request.is_json:
        raise BadRequest("请求须为 application/json")
    raw = request.get_data(cache=True)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("请求体不是合法的 JSON") from None


@bp.post("/orders")
def create_order():  # type: ignore[no-untyped-def]
    key = request.headers.get("Idempotency-Key", "").strip() or f"auto-{uuid.uuid4().hex}"
    if len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise Invalid(fields={"Idempotency-Key": f"不能超过 {IDEMPOTENCY_KEY_MAX} 个可见字符"})
    order = order_input.parse(json_body(), max_qty=current_app.config["MAX_QTY"])
    current = runtime.runtime()
    placed, created = orders.place_order(
        db.session,
        current.stock(),
        order,
        idempotency_key=key,
        catalog=current.catalog,
        rules=RiskRules.from_config(current_app.config),
    )
    body = {"order_no": placed.order_no, "status": placed.status, "status_label": placed.status_label}
    return jsonify(body), (201 if created else 200)


@bp.get("/orders/<order_no>")
def show_order(order_no: str):  # type: ignore[no-untyped-def]
    order = orders.order_for_customer(db.session, order_no, request.args.get("phone", ""))
    return jsonify(order.to_customer())
