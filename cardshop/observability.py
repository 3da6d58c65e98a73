"""/metrics for Prometheus, and counting orders by outcome as they are answered."""

from __future__ import annotations

import hmac

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST

from . import metrics, runtime
from .services import system_status

bp = Blueprint("observability", __name__)

# Endpoints that place orders; a blueprint with an order form adds its endpoint here.
order_endpoints: set[str] = {"api.create_order"}


@bp.get("/metrics")
def scrape() -> Response:
    token = current_app.config["METRICS_TOKEN"]
    offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and not hmac.compare_digest(offered.encode(), token.encode()):
        return Response("metrics need a bearer token\n", status=401, mimetype="text/plain")
    live = metrics.NodeCollector(lambda: system_status.readings(runtime.runtime().nodes))
    body = metrics.render(current_app.config["METRICS_DIR"], live)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def order_outcome(status: int) -> str:
    """created / duplicate for successes, the domain error code otherwise."""
    if status == 201:
        return "created"
    if status == 200:
        return "duplicate"
    return str(g.get("error_code") or f"http_{status}")


def init_app(app: Flask) -> None:
    @app.after_request
    def count(response: Response) -> Response:
        endpoint = request.endpoint or "unmatched"
        if endpoint in order_endpoints and request.method == "POST":
            metrics.count_order(order_outcome(response.status_code))
        if endpoint != "observability.scrape":
            metrics.HTTP_REQUESTS.labels(endpoint=endpoint, status=f"{response.status_code // 100}xx").inc()
        return response
