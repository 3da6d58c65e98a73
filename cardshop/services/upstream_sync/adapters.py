"""The adapter interface every way of reaching upstream implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ...models import Order

# Upstream's words for a card's progress -> our order statuses. "failed" becomes
# 审核失败 before the card is being opened and 开卡失败 after (see sync.target_for).
UPSTREAM_STATUSES = {
    "submitted": "opening",
    "accepted": "opening",
    "opening": "opening",
    "shipped": "shipped",
    "activated": "activated",
    "recharged": "recharged",
    "rejected": "rejected",
    "failed": "open_failed",
    "open_failed": "open_failed",
    "cancelled": "cancelled",
}


@dataclass(frozen=True)
class SubmitResult:
    """Upstream took the order: its reference for it, and what it says the status is."""

    ref: str
    status: str = "submitted"


@dataclass(frozen=True)
class StatusReport:
    """What upstream says about one order now."""

    order_no: str
    status: str
    courier: str = ""
    tracking_no: str = ""
    reason: str = ""


class UpstreamError(Exception):
    """Upstream could not be reached or refused the request.

    ``permanent`` means sending it again will not help (a 4xx: the order itself is
    wrong); otherwise a later sync tries again."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Adapter(Protocol):
    name: str

    def submit(self, order: Order) -> SubmitResult:
        """Hand ``order`` over. Must be idempotent by order number: sending the same
        order twice creates one order upstream."""

    def poll(self, order: Order) -> StatusReport | None:
        """The order's status upstream, or None when this adapter cannot ask."""


def order_document(order: Order) -> dict[str, Any]:
    """What upstream needs to open the card: unmasked, as real-name registration requires."""
    return {
        "order_no": order.order_no,
        "sku": order.product.sku,
        "product_name": order.product.name,
        "carrier": order.carrier,
        "qty": order.qty,
        "number": order.msisdn,
        "customer": {"name": order.customer_name, "id_card": order.id_card, "phone": order.customer_phone},
        "address": {
            "province": order.province,
            "city": order.city,
            "district": order.district,
            "detail": order.address_detail,
        },
        "created_at": order.created_at.isoformat(),
    }
