"""System status: is selling safe right now?"""

from __future__ import annotations

from flask import current_app, flash, render_template
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .. import metrics, runtime
from ..extensions import db
from ..services import system_status
from . import acting_admin, bp


def _database_up() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False
    finally:
        db.session.rollback()


def _page(reconciliation: system_status.Reconciliation, *, ran: bool) -> str:
    nodes = runtime.runtime().nodes
    health = system_status.node_health(nodes)
    up = sum(node.up for node in health)
    return render_template(
        "ops/system.html",
        nodes=health,
        up=up,
        quorum=nodes.quorum,
        quorum_held=up >= nodes.quorum,
        database_up=_database_up(),
        figures=system_status.lock_figures(metrics.totals(current_app.config["METRICS_DIR"]), len(nodes)),
        reconciliation=reconciliation,
        ran=ran,
    )


@bp.get("/system")
def system() -> str:
    return _page(system_status.reconcile(runtime.stock(), dry_run=True, actor=acting_admin().actor), ran=False)


@bp.post("/system/reconcile")
def run_reconcile() -> str:
    result = system_status.reconcile(runtime.stock(), dry_run=False, actor=acting_admin().actor)
    if result.error:
        flash(f"对账未完成：{result.error}", "error")
    else:
        fixed = sum(row.fixed for row in result.rows)
        flash(f"对账完成：{len(result.rows)} 个商品，修正 {fixed} 个", "info")
    return _page(result, ran=True)
