"""Browsing: the catalogue, an agent's shop, a product page with its number picker,
holding a number, and the region tree for the address selects."""

from __future__ import annotations

from flask import flash, jsonify, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from .. import regions, runtime
from ..browser import forget_held, hold_owner, remember_held, remember_shop
from ..errors import Busy, Invalid, NumberTaken, StockUnavailable
from ..extensions import db, limiter
from ..limits import hold_rate_limit
from ..models import Product
from ..services import numbers, storefront
from ..services.holds import Hold
from ..services.orders import listed_product
from . import bp


def _catalogue_page(**context: object) -> str:
    """The plans in their listing order, sold-out ones last."""
    products = storefront.listed_products(db.session)
    left = storefront.availability(runtime.stock(), products)
    products.sort(key=lambda p: left[p.sku] <= 0)
    return render_template("shop/catalogue.html", products=products, left=left, **context)


@bp.get("/")
def index() -> str:
    return _catalogue_page()


@bp.get("/s/<shop_code>")
def agent_shop(shop_code: str) -> ResponseReturnValue:
    """An agent's shop link: the catalogue, and the browser remembers the shop."""
    agent = storefront.shop_agent(db.session, shop_code)
    if agent is None:
        return make_response(render_template("shop/shop_closed.html"), 404)
    response = make_response(_catalogue_page(current_shop=agent))
    remember_shop(response, agent.shop_code)
    return response


@bp.get("/p/<sku>")
def product_page(sku: str) -> ResponseReturnValue:
    product = listed_product(db.session, sku)
    left = storefront.availability(runtime.stock(), [product])[sku]
    context: dict[str, object] = {"product": product, "left": left, "picker": None, "hold": None}
    if left <= 0:
        context["alternatives"] = storefront.alternatives(db.session, runtime.stock(), product)
    elif product.number_selectable:
        context.update(_picker(product))
    status = 422 if context.get("filter_errors") else 200
    return make_response(render_template("shop/product.html", **context), status)


def _picker(product: Product) -> dict[str, object]:
    """The number picker's part of the product page; browsing still works without it."""
    args = request.args
    owner = hold_owner()
    try:
        wanted = numbers.NumberFilter.parse(args.get("ends", ""), args.get("contains", ""), bool(args.get("no4")))
    except Invalid as error:
        return {"filter_errors": error.fields, "picker": None}
    page = int(args["page"]) if args.get("page", "").isdigit() else 1
    try:
        holds = runtime.holds()
        picker = numbers.free_numbers(db.session, holds, product, owner, wanted, page=page)
        hold = holds.holding(owner, product.sku) if owner and picker.own else None
    except StockUnavailable:
        return {"picker_down": True}
    query = {name: args[name] for name in ("ends", "contains", "no4") if args.get(name)}
    return {"picker": picker, "hold": hold, "filter_query": query}


@bp.post("/p/<sku>/numbers/<msisdn>/hold")
@limiter.shared_limit(hold_rate_limit, scope="number-holds")
def hold_number(sku: str, msisdn: str) -> ResponseReturnValue:
    """Pick a number: hold it for this browser, then fill in the order."""
    product = listed_product(db.session, sku)
    owner = hold_owner(create=True)
    assert owner is not None
    try:
        held: Hold = numbers.hold_number(db.session, runtime.holds(), product, msisdn, owner)
    except (NumberTaken, Busy) as refused:
        flash(f"{msisdn}：{refused.message}", "error")
        return redirect(url_for("shop.product_page", sku=sku, _anchor="numbers"), 303)
    remember_held(held.sku, held.msisdn)
    return redirect(url_for("shop.order_form", sku=sku), 303)


@bp.post("/p/<sku>/numbers/release")
def release_number(sku: str) -> ResponseReturnValue:
    """Give the picked number back and choose again."""
    owner = hold_owner()
    if owner:
        held = runtime.holds().holding(owner, sku)
        if held is not None:
            runtime.holds().release(sku, held.msisdn, owner)
    forget_held()
    return redirect(url_for("shop.product_page", sku=sku, _anchor="numbers"), 303)


@bp.get("/regions.json")
def region_tree() -> ResponseReturnValue:
    """The province -> city -> district tree for the cascading selects; cacheable."""
    response = jsonify(regions.tree())
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response
