"""Catalogue endpoints. They answer from the database when the stock quorum is lost."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from sqlalchemy import select

from .. import runtime
from ..errors import StockUnavailable
from ..extensions import db
from ..models import Product
from ..services.orders import listed_product
from . import bp


def live_available(skus: list[str]) -> dict[str, int | None] | None:
    """The counters' view of what is left, or None when the quorum is lost."""
    try:
        return runtime.stock().available(skus)
    except StockUnavailable:
        return None


def _serialise(products: list[Product]) -> list[dict[str, Any]]:
    live = live_available([p.sku for p in products])
    rows = []
    for product in products:
        counted = live.get(product.sku) if live else None
        row = product.to_public(counted)
        row["stock_live"] = counted is not None
        rows.append(row)
    return rows


@bp.get("/products")
def list_products():  # type: ignore[no-untyped-def]
    products = list(
        db.session.scalars(select(Product).where(Product.listed.is_(True)).order_by(Product.sort_order, Product.id))
    )
    return jsonify({"products": _serialise(products)})


@bp.get("/products/<sku>")
def show_product(sku: str):  # type: ignore[no-untyped-def]
    return jsonify(_serialise([listed_product(db.session, sku)])[0])
