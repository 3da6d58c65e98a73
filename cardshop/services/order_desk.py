"""The operators' order desk: finding orders, and the fulfilment export.

The export is the one place where customers' ID numbers and phones leave the system
unmasked (the carrier needs them to open the card, 实名制); every export is recorded
with who took it, when, with which filters and which orders (I7).
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, literal, select, union_all
from sqlalchemy.orm import lazyload

from ..errors import Invalid
from ..models import STATUSES, Admin, DbSession, FulfilmentExport, Order, Product

SHANGHAI = ZoneInfo("Asia/Shanghai")
PAGE_SIZE = 50
COUNT_CAP = 10_000  # the order list's count stops here (bounded_count)
TAB_CAP = 1_000  # each status tab's count stops here: nine of them on every page view
EXPORT_LIMIT = 20_000

EXPORT_COLUMNS = [
    ("order_no", "订单号"),
    ("created", "下单时间"),
    ("status", "状态"),
    ("sku", "SKU"),
    ("product", "套餐"),
    ("carrier", "运营商"),
    ("qty", "数量"),
    ("number", "选号"),
    ("name", "姓名"),
    ("id_card", "身份证号"),
    ("phone", "联系电话"),
    ("province", "省"),
    ("city", "市"),
    ("district", "区县"),
    ("address", "详细地址"),
    ("shop_code", "店铺"),
]


@dataclass(frozen=True)
class OrderFilter:
    """What an operator narrowed the list to; dates are Shanghai calendar days."""

    status: str = ""
    sku: str = ""
    shop_code: str = ""
    date_from: str = ""
    date_to: str = ""
    order_no: str = ""

    @classmethod
    def from_args(cls, args: dict[str, str]) -> OrderFilter:
        found = cls(**{name: (args.get(name) or "").strip() for name in cls.__dataclass_fields__})
        problems = {}
        if found.status and found.status not in STATUSES:
            problems["status"] = "未知的状态"
        for name in ("date_from", "date_to"):
            value = getattr(found, name)
            if value and _parse_day(value) is None:
                problems[name] = "日期格式为 YYYY-MM-DD"
        if problems:
            raise Invalid("筛选条件有误", fields=problems)
        return found

    def as_dict(self) -> dict[str, str]:
        return {key: value for key, value in asdict(self).items() if value}

    def query(self) -> Select[tuple[Order]]:
        query = select(Order)
        if self.status:
            query = query.where(Order.status == self.status)
        if self.sku:
            # A subquery, not a join: the planner then walks orders by an index in page order.
            query = query.where(Order.product_id.in_(select(Product.id).where(Product.sku == self.sku)))
        if self.shop_code:
            query = query.where(Order.shop_code == self.shop_code)
        if self.order_no:
            query = query.where(Order.order_no == self.order_no)
        if self.date_from:
            query = query.where(Order.created_at >= _day_start(self.date_from))
        if self.date_to:
            query = query.where(Order.created_at < _day_start(self.date_to) + timedelta(days=1))
        return query


def _parse_day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _day_start(value: str) -> datetime:
    day = _parse_day(value)
    assert day is not None  # checked in from_args
    return datetime.combine(day, time.min, SHANGHAI).astimezone(UTC)


def bounded_count(session: DbSession, query: Select[tuple[Order]], cap: int = COUNT_CAP) -> int:
    """How many rows ``query`` matches, counting no further than ``cap`` + 1.

    An exact count of a million orders reads a million index entries on every page
    view; past the cap the console shows "10000+" and pages that far."""
    capped = query.with_only_columns(Order.id).order_by(None).limit(cap + 1).subquery()
    return int(session.scalar(select(func.count()).select_from(capped)) or 0)


def find_orders(session: DbSession, wanted: OrderFilter, page: int = 1) -> tuple[list[Order], int]:
    """One page of matching orders, newest first, and how many match (up to COUNT_CAP + 1)."""
    total = bounded_count(session, wanted.query())
    rows = session.scalars(
        wanted.query()
        .options(lazyload(Order.events))  # the list shows no timelines: skip loading fifty of them
        .order_by(Order.created_at.desc(), Order.id.desc())
        .offset((max(page, 1) - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return list(rows.unique()), total


def status_counts(session: DbSession) -> dict[str, int]:
    """Orders per status for the tabs, each counted up to TAB_CAP + 1 through its index,
    all in one statement (nine round trips cost more than the counting)."""
    counts = union_all(
        *(
            select(literal(status), func.count()).select_from(
                select(Order.id).where(Order.status == status).limit(TAB_CAP + 1).subquery()
            )
            for status in STATUSES
        )
    )
    return {status: int(count) for status, count in session.execute(counts) if count}


def shown_count(count: int, cap: int = COUNT_CAP) -> str:
    """A bounded count for the eye: "10000+" past the cap."""
    return f"{cap}+" if count > cap else str(count)


def export_fulfilment(session: DbSession, admin: Admin, wanted: OrderFilter, *, remote_addr: str = "") -> str:
    """The fulfilment CSV (UTF-8 with BOM, so Excel opens it), recorded before it is
    handed out. Unmasked on purpose: it goes to whoever opens the cards."""
    orders = list(session.scalars(wanted.query().order_by(Order.id).limit(EXPORT_LIMIT)).unique())
    session.add(
        FulfilmentExport(
            admin_id=admin.id,
            filters=wanted.as_dict(),
            row_count=len(orders),
            order_nos=[order.order_no for order in orders],
            remote_addr=remote_addr[:64],
        )
    )
    session.commit()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([label for _, label in EXPORT_COLUMNS])
    for order in orders:
        row = _export_row(order)
        writer.writerow([_cell(row[key]) for key, _ in EXPORT_COLUMNS])
    return "\ufeff" + buffer.getvalue()


def _export_row(order: Order) -> dict[str, object]:
    return {
        "order_no": order.order_no,
        "created": order.created_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
        "status": order.status_label,
        "sku": order.product.sku,
        "product": order.product.name,
        "carrier": order.product.carrier_name,
        "qty": order.qty,
        "number": order.msisdn or "",
        "name": order.customer_name,
        "id_card": order.id_card,
        "phone": order.customer_phone,
        "province": order.province,
        "city": order.city,
        "district": order.district,
        "address": order.address_detail,
        "shop_code": order.shop_code or "",
    }


def _cell(value: object) -> str:
    """Text a spreadsheet will not run as a formula (CSV injection: a customer typed
    the address, and operators open the file in Excel)."""
    text = str(value)
    if text[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        return "'" + text
    return text


def recent_exports(session: DbSession, limit: int = 50) -> list[FulfilmentExport]:
    return list(session.scalars(select(FulfilmentExport).order_by(FulfilmentExport.id.desc()).limit(limit)))
