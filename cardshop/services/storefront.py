"""The shop front's reads: listed plans with what is left, agents' shops, and
other plans to offer when one is sold out."""

from __future__ import annotations

from sqlalchemy import select

from ..errors import StockUnavailable
from ..models import Agent, DbSession, Product
from ..stock import StockService


def listed_products(session: DbSession) -> list[Product]:
    query = select(Product).where(Product.listed.is_(True)).order_by(Product.sort_order, Product.id)
    return list(session.scalars(query))


def availability(stock: StockService, products: list[Product]) -> dict[str, int]:
    """What is left of each product: the counters' view, or the database's when the
    counters cannot be read (quorum lost) or do not know a product yet."""
    try:
        live = stock.available([p.sku for p in products]) if products else {}
    except StockUnavailable:
        live = {}
    result = {}
    for product in products:
        counted = live.get(product.sku)
        result[product.sku] = max(0, counted if counted is not None else product.stock_available)
    return result


def alternatives(
    session: DbSession, stock: StockService, product: Product, limit: int = 3
) -> list[tuple[Product, int]]:
    """Other listed plans in stock with what is left of each, the same carrier first,
    for a sold-out product page."""
    others = [p for p in listed_products(session) if p.id != product.id]
    left = availability(stock, others)
    in_stock = [p for p in others if left[p.sku] > 0]
    in_stock.sort(key=lambda p: (p.carrier != product.carrier, p.sort_order, p.id))
    return [(p, left[p.sku]) for p in in_stock[:limit]]


def shop_agent(session: DbSession, shop_code: str) -> Agent | None:
    """The agent whose shop this is, if it may sell (active and verified)."""
    agent = session.scalars(select(Agent).where(Agent.shop_code == shop_code[:20])).one_or_none()
    return agent if agent is not None and agent.can_sell else None
