"""Order desk: find orders, move them (submit upstream, ship, fail), the fulfilment
export and status files from upstream."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from .. import metrics, runtime
from ..errors import CardshopError, Invalid, NotFound
from ..extensions import db
from ..models import DEAD_STATUSES, STATUSES, Order, Product, UpstreamSubmission
from ..services import fulfilment, order_desk
from ..services.upstream_sync import UpstreamError, adapter_from_config, import_statuses, submit_order
from ..validation import mask_name, mask_phone
from . import acting_admin, bp

COURIERS = ["顺丰速运", "中国邮政EMS", "京东物流", "圆通速递", "中通快递", "韵达速递", "申通快递", "极兔速递"]
TRACKING_NO = re.compile(r"^[A-Za-z0-9-]{6,40}$")
# Which dead end an operator may send an order to from where it is.
FAIL_TARGETS = {
    "submitted": ["rejected", "cancelled"],
    "opening": ["open_failed", "cancelled"],
    "shipped": ["open_failed", "cancelled"],
    "activated": ["cancelled"],
    "recharged": ["cancelled"],
}


def _order(order_no: str) -> Order:
    order = db.session.scalars(select(Order).where(Order.order_no == order_no)).one_or_none()
    if order is None:
        raise NotFound("没有这个订单")
    return order


@bp.get("/orders")
def orders() -> str:
    wanted = order_desk.OrderFilter.from_args(request.args.to_dict())
    page = request.args.get("page", "1")
    page_no = int(page) if page.isdigit() and int(page) > 0 else 1
    found, total = order_desk.find_orders(db.session, wanted, page_no)
    skus = list(db.session.scalars(select(Product.sku).order_by(Product.sort_order, Product.id)))
    return render_template(
        "ops/orders.html",
        orders=found,
        total=total,
        page=page_no,
        pages=max(1, -(-min(total, order_desk.COUNT_CAP) // order_desk.PAGE_SIZE)),
        shown=order_desk.shown_count,
        tab_cap=order_desk.TAB_CAP,
        wanted=wanted,
        statuses=STATUSES,
        counts=order_desk.status_counts(db.session),
        skus=skus,
        mask_name=mask_name,
        mask_phone=mask_phone,
    )


@bp.get("/orders/<order_no>")
def order(order_no: str) -> str:
    found = _order(order_no)
    submission = db.session.scalars(
        select(UpstreamSubmission).where(UpstreamSubmission.order_id == found.id)
    ).one_or_none()
    return render_template(
        "ops/order.html",
        order=found,
        submission=submission,
        couriers=COURIERS,
        fail_targets=FAIL_TARGETS.get(found.status, []),
        statuses=STATUSES,
    )


@bp.post("/orders/<order_no>/submit")
def submit(order_no: str) -> BaseResponse:
    found = _order(order_no)
    adapter = adapter_from_config(current_app.config)
    try:
        submit_order(db.session, runtime.stock(), adapter, found, actor=acting_admin().actor)
    except UpstreamError as error:
        metrics.count_upstream(adapter.name, "refused" if error.permanent else "failed")
        flash(f"提交上游失败：{error}", "error")
    except CardshopError as error:
        flash(error.message, "error")
    else:
        metrics.count_upstream(adapter.name, "sent")
        flash(f"订单 {order_no} 已提交上游（{adapter.name}），状态变为开卡中", "info")
    return redirect(url_for("ops.order", order_no=order_no))


@bp.post("/orders/<order_no>/ship")
def ship(order_no: str) -> BaseResponse:
    found = _order(order_no)
    courier = request.form.get("courier", "").strip()
    tracking_no = request.form.get("tracking_no", "").strip()
    try:
        if courier not in COURIERS:
            raise Invalid("请选择快递公司")
        if not TRACKING_NO.match(tracking_no):
            raise Invalid("运单号为 6–40 位字母或数字")
        fulfilment.transition(
            db.session,
            runtime.stock(),
            found,
            "shipped",
            source=acting_admin().actor,
            courier=courier,
            tracking_no=tracking_no,
        )
    except CardshopError as error:
        flash(error.message, "error")
    else:
        flash(f"订单 {order_no} 已发货：{courier} {tracking_no}", "info")
    return redirect(url_for("ops.order", order_no=order_no))


@bp.post("/orders/<order_no>/fail")
def fail(order_no: str) -> BaseResponse:
    found = _order(order_no)
    target = request.form.get("target", "")
    reason = request.form.get("reason", "").strip()
    try:
        if target not in DEAD_STATUSES or target not in FAIL_TARGETS.get(found.status, []):
            raise Invalid("该订单当前不能改为这个状态")
        if not 2 <= len(reason) <= 200:
            raise Invalid("请填写客户能看懂的原因（2–200 字）")
        fulfilment.transition(db.session, runtime.stock(), found, target, reason=reason, source=acting_admin().actor)
    except CardshopError as error:
        flash(error.message, "error")
    else:
        flash(f"订单 {order_no} 已改为「{STATUSES[target]}」，库存已退回", "info")
    return redirect(url_for("ops.order", order_no=order_no))


@bp.get("/orders/export.csv")
def export() -> Response:
    wanted = order_desk.OrderFilter.from_args(request.args.to_dict())
    body = order_desk.export_fulfilment(db.session, acting_admin(), wanted, remote_addr=request.remote_addr or "")
    metrics.count_export()
    current_app.logger.info("fulfilment export by %s filters=%s", acting_admin().username, wanted.as_dict())
    stamp = datetime.now(UTC).astimezone(order_desk.SHANGHAI).strftime("%Y%m%d-%H%M%S")
    return Response(
        body.encode("utf-8"),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="fulfilment-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


@bp.get("/exports")
def exports() -> str:
    return render_template("ops/exports.html", exports=order_desk.recent_exports(db.session))


@bp.post("/orders/statuses")
def upload_statuses():  # type: ignore[no-untyped-def]
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("请选择状态文件（CSV）", "error")
        return redirect(url_for("ops.orders"))
    result = import_statuses(db.session, runtime.stock(), upload.read(), source=acting_admin().actor)
    if result.problems:
        flash(f"状态文件有 {len(result.problems)} 行有问题，未做任何变更", "error")
    else:
        flash(
            f"已更新 {len(result.applied)} 个订单，{len(result.unchanged)} 个无变化，{len(result.refused)} 个被拒绝",
            "info",
        )
    return render_template("ops/status_import.html", result=result), (422 if result.problems else 200)
