"""The shop front customers buy on: catalogue, agents' shops, product pages with the
number picker, the order form, confirmation and order lookup. Mobile-first, zh-CN."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint

from ..models import STATUSES
from ..validation import mask_id_card, mask_name, mask_phone
from .attribution import current_shop

bp = Blueprint("shop", __name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# What a customer follows; settlement is between the platform and the agent.
CUSTOMER_PATH = ("submitted", "opening", "shipped", "activated", "recharged")


@bp.app_template_filter("yuan")
def yuan(fen: int) -> str:
    """Fen as yuan for people: 2900 -> "29", 2950 -> "29.50"."""
    whole, cents = divmod(int(fen), 100)
    return f"{whole}" if cents == 0 else f"{whole}.{cents:02d}"


@bp.app_template_filter("shanghai")
def shanghai(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return moment.astimezone(SHANGHAI).strftime(fmt) if moment else ""


@bp.app_template_filter("epoch_ms")
def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@bp.app_template_filter("status_label")
def status_label(status: str) -> str:
    return STATUSES.get(status, status)


@bp.app_template_filter("next_steps")
def next_steps(status: str) -> list[str]:
    """The steps still ahead of a live order, as the customer follows it."""
    if status not in CUSTOMER_PATH:
        return []
    return [STATUSES[step] for step in CUSTOMER_PATH[CUSTOMER_PATH.index(status) + 1 :]]


bp.add_app_template_filter(mask_name, "mask_name")
bp.add_app_template_filter(mask_id_card, "mask_id_card")
bp.add_app_template_filter(mask_phone, "mask_phone")


@bp.context_processor
def shop_context() -> dict[str, Any]:
    return {"current_shop": current_shop()}


from . import ordering, pages  # noqa: E402,F401 - route modules attach to bp
