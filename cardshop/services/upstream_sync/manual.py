"""The manual adapter: operators take the fulfilment export to upstream by hand and
bring statuses back as a CSV, which is checked whole before any line is applied.

Status CSV columns (a header line is required; Chinese or English names):
订单号/order_no, 状态/status, 快递公司/courier, 运单号/tracking_no, 原因/reason.
A status is an upstream word (shipped, failed...), our code (open_failed) or its
label (已发货).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select

from ...errors import Conflict, Invalid
from ...models import STATUSES, DbSession, Order
from ...stock import StockService
from ..number_pool import LineProblem
from .adapters import UPSTREAM_STATUSES, StatusReport, SubmitResult
from .sync import apply_report

COLUMNS = {
    "订单号": "order_no",
    "order_no": "order_no",
    "状态": "status",
    "status": "status",
    "快递公司": "courier",
    "courier": "courier",
    "运单号": "tracking_no",
    "tracking_no": "tracking_no",
    "原因": "reason",
    "reason": "reason",
}
_LABELS = {label: code for code, label in STATUSES.items()}


class ManualAdapter:
    """Submitting records the hand-over; upstream learns of the order from the export."""

    name = "manual"

    def submit(self, order: Order) -> SubmitResult:
        return SubmitResult(ref=f"manual-{order.order_no}", status="submitted")

    def poll(self, order: Order) -> StatusReport | None:
        return None  # statuses arrive by CSV import


@dataclass
class StatusImport:
    applied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[LineProblem] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)


def import_statuses(session: DbSession, stock: StockService, raw: bytes, *, source: str) -> StatusImport:
    """Apply a status CSV. Any malformed line (unknown order or status, shipped without
    a tracking number) stops the whole file; a move the order cannot make (it is
    already further along, or dead) is reported per line and the rest still apply."""
    result = StatusImport()
    reports = _read(session, raw, result.problems)
    if result.problems:
        return result
    for line, order, news in reports:
        try:
            moved = apply_report(session, stock, order, news, source=source)
        except Conflict as error:
            session.rollback()
            result.refused.append(LineProblem(line, order.order_no, error.message))
            continue
        (result.applied if moved else result.unchanged).append(order.order_no)
    return result


def _read(session: DbSession, raw: bytes, problems: list[LineProblem]) -> list[tuple[int, Order, StatusReport]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("文件编码无法识别，请另存为 UTF-8 CSV") from None
    reader = csv.reader(io.StringIO(text))
    header = [COLUMNS.get(cell.strip().lower(), COLUMNS.get(cell.strip(), "")) for cell in next(reader, [])]
    if "order_no" not in header or "status" not in header:
        problems.append(LineProblem(1, "", "第一行须为表头，至少包含 订单号 和 状态"))
        return []
    rows = []
    for line, cells in enumerate(reader, start=2):
        values = {name: cell.strip() for name, cell in zip(header, cells, strict=False) if name}
        if not any(values.values()):
            continue
        order = session.scalars(select(Order).where(Order.order_no == values.get("order_no", ""))).one_or_none()
        status = _LABELS.get(values.get("status", ""), values.get("status", "")).lower()
        if order is None:
            problems.append(LineProblem(line, values.get("order_no", ""), "没有这个订单"))
        elif status not in UPSTREAM_STATUSES and status not in STATUSES:
            problems.append(LineProblem(line, values.get("status", ""), "不认识的状态"))
        elif status == "shipped" and not values.get("tracking_no"):
            problems.append(LineProblem(line, order.order_no, "已发货须填写运单号"))
        else:
            news = StatusReport(
                order_no=order.order_no,
                status=status,
                courier=values.get("courier", "")[:40],
                tracking_no=values.get("tracking_no", "")[:60],
                reason=values.get("reason", "")[:200],
            )
            rows.append((line, order, news))
    return rows
