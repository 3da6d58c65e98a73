"""The upstream status callback: verify the signature over the raw body, then apply."""

from __future__ import annotations

from flask import current_app, jsonify, request

from .. import runtime
from ..extensions import db
from ..services import upstream
from . import bp


@bp.post("/upstream/callback")
def upstream_callback():  # type: ignore[no-untyped-def]
    body = request.get_data(cache=False)
    upstream.check_signature(body, request.headers.get("X-Signature", ""), current_app.config["UPSTREAM_SECRET"])
    locks = runtime.runtime().locks
    outcome = upstream.receive(db.session, runtime.stock(), locks.hold, upstream.parse(body))
    return jsonify(
        {"event_id": outcome.event_id, "order_no": outcome.order_no, "result": outcome.result, "status": outcome.status}
    )
