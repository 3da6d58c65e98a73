"""What the shop remembers about one browser, in signed cookies.

- the hold owner token (a random secret in the session): who holds a picked number;
- the number it picked (``"<sku> <msisdn>"``), to buy it even if the hold ran out
  while nobody else took it;
- the orders it placed recently, which it may open without looking them up;
- the agent shop it came through (its own signed cookie, kept SHOP_COOKIE_DAYS), so
  later orders are attributed to that agent.
"""

from __future__ import annotations

from flask import Response, current_app, request, session
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .services.holds import new_owner_token

HOLD_OWNER = "hold_owner"
HELD_NUMBER = "held"
RECENT_ORDERS = "orders"
RECENT_ORDERS_KEPT = 20
SHOP_COOKIE = "cs_shop"


def hold_owner(*, create: bool = False) -> str | None:
    """This browser's hold token; API clients without cookies send it in X-Hold-Token."""
    token = request.headers.get("X-Hold-Token", "").strip()[:64] or session.get(HOLD_OWNER)
    if not token and create:
        token = new_owner_token()
    if token and session.get(HOLD_OWNER) != token:
        session[HOLD_OWNER] = token
    return token or None


def remember_held(sku: str, msisdn: str) -> None:
    session[HELD_NUMBER] = f"{sku} {msisdn}"


def held_number(sku: str) -> str | None:
    """The number this browser picked for ``sku`` (its hold may have run out)."""
    held_sku, _, msisdn = str(session.get(HELD_NUMBER, "")).partition(" ")
    return msisdn if held_sku == sku and msisdn else None


def forget_held() -> None:
    session.pop(HELD_NUMBER, None)


def remember_order(order_no: str) -> None:
    recent = [no for no in session.get(RECENT_ORDERS, []) if no != order_no]
    session[RECENT_ORDERS] = [order_no, *recent][:RECENT_ORDERS_KEPT]


def placed_here(order_no: str) -> bool:
    return order_no in session.get(RECENT_ORDERS, [])


def _shop_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="cardshop.shop-attribution")


def _shop_cookie_seconds() -> int:
    return int(current_app.config["SHOP_COOKIE_DAYS"]) * 86400


def remember_shop(response: Response, shop_code: str) -> None:
    response.set_cookie(
        SHOP_COOKIE,
        _shop_serializer().dumps(shop_code),
        max_age=_shop_cookie_seconds(),
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
    )


def forget_shop(response: Response) -> None:
    response.delete_cookie(SHOP_COOKIE)


def attributed_shop() -> str | None:
    """The shop code this browser arrived through within SHOP_COOKIE_DAYS, if any."""
    raw = request.cookies.get(SHOP_COOKIE)
    if not raw:
        return None
    try:
        code = _shop_serializer().loads(raw, max_age=_shop_cookie_seconds())
    except BadSignature:  # also SignatureExpired
        return None
    return code if isinstance(code, str) else None
