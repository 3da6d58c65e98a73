"""Which agent's shop this browser came through (signed cookie, SHOP_COOKIE_DAYS)."""

from __future__ import annotations

from ..browser import attributed_shop
from ..extensions import db
from ..models import Agent
from ..services.storefront import shop_agent


def current_shop() -> Agent | None:
    """The selling agent for this request, if the browser came through a shop that may
    still sell (an agent deactivated since then no longer gets the orders)."""
    code = attributed_shop()
    return shop_agent(db.session, code) if code else None
