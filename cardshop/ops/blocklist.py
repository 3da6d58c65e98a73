"""The blocklist (黑名单): ID numbers and phones that may not order."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ..errors import CardshopError, Invalid
from ..extensions import db
from ..models.risk import BLOCK_KINDS, BlockEntry
from ..services import risk
from ..validation import id_card_problem, mask_id_card, mask_phone, mobile_problem
from . import acting_admin, bp


def masked(entry: BlockEntry) -> str:
    return mask_id_card(entry.value) if entry.kind == "id_card" else mask_phone(entry.value)


@bp.get("/blocklist")
def blocklist() -> str:
    entries = risk.blocklist(db.session)
    return render_template("ops/blocklist.html", entries=entries, kinds=BLOCK_KINDS, masked=masked)


@bp.post("/blocklist")
def add_block() -> Response:
    kind = request.form.get("kind", "")
    value = request.form.get("value", "").strip()
    reason = request.form.get("reason", "").strip()
    try:
        if kind not in BLOCK_KINDS:
            raise Invalid("请选择类型")
        problem = id_card_problem(value) if kind == "id_card" else mobile_problem(value)
        if problem:
            raise Invalid(problem)
        if not reason:
            raise Invalid("请填写拉黑原因")
        _, created = risk.block(db.session, kind, value, reason[:200], actor=acting_admin().actor)
    except (CardshopError, ValueError) as error:
        db.session.rollback()
        flash(getattr(error, "message", str(error)), "error")
    else:
        flash("已加入黑名单" if created else "该号码已在黑名单中", "info")
    return redirect(url_for("ops.blocklist"))


@bp.post("/blocklist/<int:entry_id>/remove")
def remove_block(entry_id: int) -> Response:
    entry = db.session.get(BlockEntry, entry_id)
    if entry is not None:
        risk.unblock(db.session, entry.kind, entry.value)
        flash("已移出黑名单", "info")
    return redirect(url_for("ops.blocklist"))
