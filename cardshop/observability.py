"""/metrics for Prometheus, and HTTP requests counted by endpoint and status class.

Orders are counted by outcome where they are placed (``metrics.counts_orders`` on
``services.orders.place_order``), so the API and the shop's form count alike."""

from __future__ import annotations

import hmac

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST

from . import metrics, runtime
from .services import system_status

bp = Blueprint("observability", __name__)


@bp.get("/metrics")
def scrape() -> Response:
    token = current_app.config["METRICS_TOKEN"]
    offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and not hmac.compare_digest(offered.encode(), token.encode()):
        return Response("metrics need a bearer token\n", status=401, mimetype="text/plain")
    live = metrics.NodeCollector(lambda: system_status.readings(runtime.runtime().nodes))
    body = metrics.render(current_app.config["METRICS_DIR"], live)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    @app.after_request
    def count(response: Response) -> Response:
        endpoint = request.endpoint or "unmatched"
        if endpoint != "observability.scrape":
            metrics.HTTP_REQUESTS.labels(endpoint=endpoint, status=f"{response.status_code // 100}xx").inc()
        return response
