"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from . import runtime
from .extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():  # type: ignore[no-untyped-def]
    """Ready when the database answers and a majority of the Redis nodes do."""
    try:
        db.session.execute(text("SELECT 1"))
        database = True
    except SQLAlchemyError:
        database = False
    finally:
        db.session.rollback()
    nodes = runtime.runtime().nodes
    answers = nodes.ping()
    up = [reply.ok for reply in answers]
    quorum = sum(up) >= nodes.quorum
    ready = database and quorum
    body = {"status": "ready" if ready else "unavailable", "database": database, "redis_nodes": up, "quorum": quorum}
    if not ready:
        body["error"] = "stock_unavailable" if not quorum else "database_unavailable"
    return jsonify(body), (200 if ready else 503)
