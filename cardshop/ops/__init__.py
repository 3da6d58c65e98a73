"""The operators' console under /ops (zh-CN, desktop-first).

Every route but the login page is for operators only: the guard runs before each
request of the blueprint, so a route added later cannot forget it.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, request
from werkzeug.wrappers import Response

from ..models import Admin
from ..services.product_forms import fen_to_yuan
from .access import current_admin, refuse_unless_admin

bp = Blueprint("ops", __name__, url_prefix="/ops")

SHANGHAI = ZoneInfo("Asia/Shanghai")
OPEN_ENDPOINTS = {"ops.login"}
# Number pools and status files are larger than the API's body limit; only operators
# (checked first) may send this much.
UPLOAD_BYTES = 8 * 1024 * 1024


@bp.before_request
def operators_only() -> Response | None:
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    refused = refuse_unless_admin()
    if refused is None:
        request.max_content_length = UPLOAD_BYTES
    return refused


@bp.after_request
def private_pages(response: Response) -> Response:
    """Console pages hold customers' data: never cached, never framed (a framed
    approve button could be clicked by someone else's page)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def acting_admin() -> Admin:
    """The operator making this request (the guard let only operators in)."""
    admin = current_admin()
    if admin is None:  # unreachable behind the guard; never act anonymously
        raise PermissionError("no operator on this request")
    return admin


@bp.app_template_filter("ops_time")
def ops_time(value: datetime | None) -> str:
    """UTC in storage, Asia/Shanghai on screen."""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if value else ""


@bp.app_template_filter("ops_yuan")
def ops_yuan(fen: int | None) -> str:
    return "¥" + fen_to_yuan(fen or 0)


from . import blocklist, catalogue, orders, people, session, system, withdrawals  # noqa: E402,F401 - route modules attach to bp
