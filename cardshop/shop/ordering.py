"""Ordering: the order form, the confirmation page, and order lookup.

The form carries an idempotency token, so a double click or a resubmitted form makes
one order. Its input goes through the same parser as the API, and every problem is
shown next to its field with what the customer typed kept.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Response, current_app, flash, make_response, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from .. import runtime
from ..browser import forget_held, held_number, hold_owner, placed_here, remember_order
from ..errors import Busy, Conflict, Invalid, NumberTaken, RiskRefused, SoldOut
from ..extensions import db, limiter
from ..limits import lookup_rate_limit
from ..models import Order, Product
from ..services import lookup, order_input, orders, storefront
from ..services.holds import Hold
from ..services.risk import RiskRules
from . import bp
from .attribution import current_shop
from .forms import LookupForm, OrderForm

TOKEN = re.compile(r"^[0-9a-f]{32}$")


def _held(product: Product) -> tuple[str | None, Hold | None]:
    """(the number this browser picked for the product, its live hold if any)."""
    number = held_number(product.sku)
    owner = hold_owner()
    hold = runtime.holds().holding(owner, product.sku) if owner and product.number_selectable else None
    if hold is not None:
        number = hold.msisdn
    return number, hold


def _render(product: Product, form: OrderForm, status: int = 200, **context: Any) -> Response:
    form.fill_region_choices()
    page = render_template("shop/order.html", product=product, form=form, **context)
    return make_response(page, status)


@bp.get("/p/<sku>/order")
def order_form(sku: str) -> ResponseReturnValue:
    product = orders.listed_product(db.session, sku)
    if storefront.availability(runtime.stock(), [product])[sku] <= 0:
        flash("该套餐已售罄，看看其他套餐吧", "error")
        return redirect(url_for("shop.product_page", sku=sku), 303)
    number, hold = _held(product)
    if product.number_selectable and number is None:
        flash("请先选择一个号码", "error")
        return redirect(url_for("shop.product_page", sku=sku, _anchor="numbers"), 303)
    form = OrderForm(token=uuid.uuid4().hex)
    return _render(product, form, number=number, hold=hold)


@bp.post("/p/<sku>/order")
def submit_order(sku: str) -> ResponseReturnValue:
    product = orders.listed_product(db.session, sku)
    form = OrderForm()
    number, hold = _held(product)
    if not TOKEN.match(form.token.data or ""):
        form.token.data = uuid.uuid4().hex
    if not form.validate_on_submit():  # only the CSRF token has validators here
        return _render(product, form, 400, number=number, hold=hold, problems=["页面已过期，请重新提交"])
    if product.number_selectable and number is None:
        flash("请先选择一个号码", "error")
        return redirect(url_for("shop.product_page", sku=sku, _anchor="numbers"), 303)
    try:
        placed = _place(product, form, number)
    except (Invalid, RiskRefused) as refused:
        problems = form.show_errors(refused.fields)
        if isinstance(refused, RiskRefused) and not problems:
            problems = [refused.message]
        return _render(product, form, refused.status, number=number, hold=hold, problems=problems)
    except NumberTaken as taken:
        forget_held()
        flash(taken.message, "error")
        return redirect(url_for("shop.product_page", sku=sku, _anchor="numbers"), 303)
    except Conflict:
        form.token.data = uuid.uuid4().hex  # this form was used for another order already
        return _render(product, form, 409, number=number, hold=hold, problems=["该表单已提交过订单，请核对后再提交"])
    except (SoldOut, Busy) as refused:
        return _render(product, form, refused.status, number=number, hold=hold, problems=[refused.message])
    remember_order(placed.order_no)
    forget_held()
    return redirect(url_for("shop.order_page", order_no=placed.order_no), 303)


def _place(product: Product, form: OrderForm, number: str | None) -> orders.Placed:
    payload = {
        "sku": product.sku,
        "qty": 1,
        "customer": {"name": form.name.data, "id_card": form.id_card.data, "phone": form.phone.data},
        "address": {
            "province": form.province.data,
            "city": form.city.data,
            "district": form.district.data or "",
            "detail": form.detail.data,
        },
        "number": number,
        "hold_token": hold_owner() if number else None,
        "shop_code": shop.shop_code if (shop := current_shop()) else None,
    }
    try:
        order = order_input.parse(payload, max_qty=current_app.config["MAX_QTY"])
    except Invalid as invalid:
        if not form.agree.data:
            invalid.fields["agree"] = "请阅读并勾选同意后再提交"
        raise
    if not form.agree.data:
        raise Invalid(fields={"agree": "请阅读并勾选同意后再提交"})
    current = runtime.runtime()
    placed, _ = orders.place_order(
        db.session,
        current.stock(),
        order,
        idempotency_key=f"form-{form.token.data}",
        catalog=current.catalog,
        rules=RiskRules.from_config(current_app.config),
    )
    return placed


@bp.get("/orders/<order_no>")
def order_page(order_no: str) -> ResponseReturnValue:
    """The confirmation page, for the browser that placed the order; others look it up."""
    order = db.session.query(Order).filter_by(order_no=order_no).one_or_none() if placed_here(order_no) else None
    if order is None:
        flash("请输入下单时的联系电话和身份证后6位查询订单", "info")
        return redirect(url_for("shop.lookup_page"), 303)
    return make_response(render_template("shop/confirmation.html", order=order))


@bp.route("/orders/lookup", methods=["GET", "POST"])
@limiter.limit(lookup_rate_limit, methods=["POST"])
def lookup_page() -> ResponseReturnValue:
    form = LookupForm()
    found: list[Order] | None = None
    status = 200
    if form.validate_on_submit():
        try:
            found = lookup.orders_by_contact(db.session, form.phone.data or "", form.id_tail.data or "")
        except Invalid as invalid:
            for name, message in invalid.fields.items():
                getattr(form, name).errors = [message]
            status = 422
    elif form.is_submitted():
        status = 400
        flash("页面已过期，请重新提交", "error")
    return make_response(render_template("shop/lookup.html", form=form, found=found), status)
