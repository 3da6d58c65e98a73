"""Agents' withdrawals (提现): operators approve, reject (the money returns) or mark paid."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from ..errors import CardshopError, Invalid
from ..extensions import db
from ..models import Agent, Withdrawal
from ..models.money import WITHDRAWAL_STATUSES
from ..services import withdrawals
from . import acting_admin, bp


@bp.get("/withdrawals")
def withdrawal_list() -> str:
    status = request.args.get("status", "requested")
    query = select(Withdrawal, Agent).join(Agent, Agent.id == Withdrawal.agent_id)
    if status in WITHDRAWAL_STATUSES:
        query = query.where(Withdrawal.status == status)
    rows = db.session.execute(query.order_by(Withdrawal.id.desc()).limit(200)).tuples().all()
    grouped = db.session.execute(select(Withdrawal.status, func.count()).group_by(Withdrawal.status)).all()
    counts: dict[str, int] = {code: int(count) for code, count in grouped}
    return render_template(
        "ops/withdrawals.html", rows=rows, status=status, statuses=WITHDRAWAL_STATUSES, counts=counts
    )


def _decide(withdrawal_id: int, action: str) -> Response:
    operator = acting_admin().actor
    try:
        if action == "approve":
            withdrawals.approve(db.session, withdrawal_id, operator)
            flash(f"提现 #{withdrawal_id} 已通过，请尽快打款", "info")
        elif action == "reject":
            reason = request.form.get("reason", "").strip()
            if not 2 <= len(reason) <= 200:
                raise Invalid("请填写驳回原因（2–200 字），代理会看到")
            withdrawals.reject(db.session, withdrawal_id, operator, reason)
            flash(f"提现 #{withdrawal_id} 已驳回，金额已退回代理可提现余额", "info")
        else:
            reference = request.form.get("reference", "").strip()
            if not 4 <= len(reference) <= 80:
                raise Invalid("请填写转账流水号")
            withdrawals.mark_paid(db.session, withdrawal_id, operator, reference)
            flash(f"提现 #{withdrawal_id} 已标记为已打款", "info")
    except CardshopError as error:
        db.session.rollback()
        flash(error.message, "error")
    return redirect(url_for("ops.withdrawal_list", status=request.args.get("status", "requested")))


@bp.post("/withdrawals/<int:withdrawal_id>/approve")
def approve_withdrawal(withdrawal_id: int) -> Response:
    return _decide(withdrawal_id, "approve")


@bp.post("/withdrawals/<int:withdrawal_id>/reject")
def reject_withdrawal(withdrawal_id: int) -> Response:
    return _decide(withdrawal_id, "reject")


@bp.post("/withdrawals/<int:withdrawal_id>/paid")
def pay_withdrawal(withdrawal_id: int) -> Response:
    return _decide(withdrawal_id, "paid")
