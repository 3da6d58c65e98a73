"""The agent backend under /agent: accounts, shop, orders, team, money. Mobile-first."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, render_template
from flask_wtf.csrf import CSRFError

from ..models import LEVELS

bp = Blueprint("agent", __name__, url_prefix="/agent")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def yuan(fen: int | None) -> str:
    """12345 -> "123.45" (money is fen everywhere; this is only for the eye)."""
    fen = int(fen or 0)
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def local_time(value: datetime | date | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).strftime(fmt)
    return value.strftime("%Y-%m-%d")


@bp.context_processor
def helpers() -> dict[str, Any]:
    return {"yuan": yuan, "local_time": local_time, "LEVELS": LEVELS}


@bp.errorhandler(CSRFError)
def csrf_failed(_error: CSRFError) -> tuple[Response | str, int]:
    """A form without a valid token: most often a page left open too long."""
    return render_template("error.html", code="csrf", message="页面已过期，请刷新后重试", status=400), 400


from . import account, money, pages, shop  # noqa: E402,F401 - route modules attach to bp
