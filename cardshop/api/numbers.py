"""The number picker's API: free numbers of a product, and holding one.

A hold belongs to the browser's token, kept in the signed session; a client without
cookies sends the token it was given back in ``X-Hold-Token``.
"""

from __future__ import annotations

from flask import jsonify, request

from .. import runtime
from ..browser import hold_owner, remember_held
from ..errors import BadRequest
from ..extensions import db, limiter
from ..limits import hold_rate_limit
from ..services import numbers
from ..services.orders import listed_product
from . import bp


def _page_arg() -> int:
    raw = request.args.get("page", "1")
    if not raw.isdigit():
        raise BadRequest("page 必须是正整数")
    return int(raw)


@bp.get("/products/<sku>/numbers")
def list_numbers(sku: str):  # type: ignore[no-untyped-def]
    product = listed_product(db.session, sku)
    args = request.args
    wanted = numbers.NumberFilter.parse(
        args.get("ends", ""),
        args.get("contains", "") or args.get("pattern", ""),
        args.get("no4", "") in {"1", "true", "on"},
    )
    page = numbers.free_numbers(db.session, runtime.holds(), product, hold_owner(), wanted, page=_page_arg())
    return jsonify(
        {
            "sku": sku,
            "numbers": [choice.to_public() for choice in page.numbers],
            "page": page.page,
            "pages": page.pages,
            "total": page.total,
            "held_by_you": page.own,
        }
    )


@bp.post("/products/<sku>/numbers/<msisdn>/hold")
@limiter.shared_limit(hold_rate_limit, scope="number-holds")
def hold(sku: str, msisdn: str):  # type: ignore[no-untyped-def]
    product = listed_product(db.session, sku)
    owner = hold_owner(create=True)
    assert owner is not None
    held = numbers.hold_number(db.session, runtime.holds(), product, msisdn, owner)
    remember_held(held.sku, held.msisdn)
    return jsonify(
        {
            "hold_token": owner,
            "sku": held.sku,
            "msisdn": held.msisdn,
            "expires_at": held.expires_at.isoformat(),
            "seconds_left": held.seconds_left,
        }
    )
