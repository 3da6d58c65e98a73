"""Orders go to upstream and their statuses come back, against a small real HTTP
upstream served by the test itself: retries with backoff, timeouts, idempotency by
order number, refusals, and the upstream-sync command."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from cardshop import runtime
from cardshop.extensions import db
from cardshop.models import Order, Product, UpstreamSubmission
from cardshop.services.upstream_sync import HttpJsonAdapter, UpstreamError, submit_order

from .ops_fixtures import place

SECRET = "test-upstream-secret"


class Upstream:
    """A carrier's order API: keeps orders by order number, checks signatures, and
    can be told to fail, stall or refuse."""

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.posts: list[str] = []
        self.fail_next = 0  # answer 503 to this many POSTs
        self.stall_next = 0.0  # accept the next POST, but answer only after this many seconds
        self.refuse: set[str] = set()
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def signed(self, payload: bytes) -> bool:
                expected = hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()
                return hmac.compare_digest(expected, self.headers.get("X-Signature", ""))

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not self.signed(body):
                    return self.reply(401, {"error": "bad signature"})
                document = json.loads(body)
                order_no = self.headers["Idempotency-Key"]
                assert order_no == document["order_no"]
                with upstream.lock:
                    upstream.posts.append(order_no)
                    if upstream.fail_next:
                        upstream.fail_next -= 1
                        return self.reply(503, {"error": "maintenance"})
                    if order_no in upstream.refuse:
                        return self.reply(400, {"error": "id card rejected"})
                    stall, upstream.stall_next = upstream.stall_next, 0.0
                    known = upstream.orders.setdefault(
                        order_no, {"ref": f"UP{len(upstream.orders) + 1:05d}", "status": "accepted", "doc": document}
                    )
                time.sleep(stall)
                self.reply(200, {"ref": known["ref"], "status": known["status"]})

            def do_GET(self) -> None:
                if not self.signed(self.path.encode()):
                    return self.reply(401, {"error": "bad signature"})
                order_no = self.path.rsplit("/", 1)[1]
                known = upstream.orders.get(order_no)
                if known is None:
                    return self.reply(404, {"error": "unknown"})
                self.reply(200, {k: v for k, v in known.items() if k != "doc"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def set(self, order_no: str, **fields: str) -> None:
        self.orders[order_no].update(fields)


@pytest.fixture
def upstream(app):  # type: ignore[no-untyped-def]
    server = Upstream()
    server.thread.start()
    app.config.update(
        UPSTREAM_URL=server.url, UPSTREAM_SECRET=SECRET, UPSTREAM_TIMEOUT=0.3, UPSTREAM_RETRIES=3, UPSTREAM_BACKOFF=0.01
    )
    yield server
    server.server.shutdown()
    server.server.server_close()


def adapter(app, **overrides: Any) -> HttpJsonAdapter:  # type: ignore[no-untyped-def]
    options = {"secret": SECRET, "timeout": 0.3, "retries": 3, "backoff": 0.01, **overrides}
    return HttpJsonAdapter(app.config["UPSTREAM_URL"], **options)


def test_a_busy_upstream_is_retried_and_gets_the_order_once(app, client, make_product, upstream) -> None:
    make_product("T-1", stock_total=5)
    order = place(client, "T-1", 1)
    upstream.fail_next = 2
    submission = submit_order(db.session, runtime.stock(), adapter(app), order, actor="test")
    assert upstream.posts == [order.order_no] * 3 and len(upstream.orders) == 1
    assert (submission.state, submission.upstream_ref) == ("sent", "UP00001")
    assert db.session.get(Order, order.id).status == "opening"
    sent = upstream.orders[order.order_no]["doc"]
    assert sent["customer"]["id_card"] == order.id_card and sent["address"]["detail"] == order.address_detail


def test_a_timed_out_submission_retried_creates_no_second_order(app, client, make_product, upstream) -> None:
    make_product("T-1", stock_total=5)
    order = place(client, "T-1", 1)
    upstream.stall_next = 0.6  # longer than the client's 0.3 s timeout; upstream did take it
    submit_order(db.session, runtime.stock(), adapter(app), order, actor="test")
    assert len(upstream.posts) == 2 and list(upstream.orders) == [order.order_no]
    assert db.session.scalars(select(UpstreamSubmission)).one().upstream_ref == "UP00001"


def test_a_refused_order_stays_put_and_is_not_resent(app, client, make_product, upstream) -> None:
    make_product("T-1", stock_total=5)
    order = place(client, "T-1", 1)
    upstream.refuse.add(order.order_no)
    with pytest.raises(UpstreamError) as refused:
        submit_order(db.session, runtime.stock(), adapter(app), order, actor="test")
    assert refused.value.permanent and upstream.posts == [order.order_no], "a 400 is not retried"
    assert db.session.get(Order, order.id).status == "submitted"
    submission = db.session.scalars(select(UpstreamSubmission)).one()
    assert submission.state == "refused" and "HTTP 400" in submission.last_error
    result = app.test_cli_runner().invoke(args=["cardshop", "upstream-sync", "--no-poll"])
    assert "submitted 0 orders" in result.output and upstream.posts == [order.order_no]


def test_an_unreachable_upstream_fails_fast_and_is_retried_later(app, client, make_product, upstream) -> None:
    make_product("T-1", stock_total=5)
    order = place(client, "T-1", 1)
    upstream.server.shutdown()
    upstream.server.server_close()
    started = time.monotonic()
    with pytest.raises(UpstreamError) as failed:
        submit_order(db.session, runtime.stock(), adapter(app), order, actor="test")
    assert not failed.value.permanent and time.monotonic() - started < 2
    assert db.session.scalars(select(UpstreamSubmission)).one().state == "failed"
    assert db.session.get(Order, order.id).status == "submitted"


def test_upstream_sync_submits_pending_orders_and_applies_what_upstream_reports(
    app, client, make_product, upstream, stock
) -> None:
    make_product("T-1", stock_total=5)
    orders = [place(client, "T-1", n) for n in range(1, 5)]
    runner = app.test_cli_runner()
    first = runner.invoke(args=["cardshop", "upstream-sync"])
    assert first.exit_code == 0, first.output
    assert "submitted 4 orders via http, 0 failed" in first.output
    assert sorted(upstream.orders) == sorted(o.order_no for o in orders)
    upstream.set(orders[0].order_no, status="shipped", courier="顺丰速运", tracking_no="SF9988776655")
    upstream.set(orders[1].order_no, status="activated", courier="京东物流", tracking_no="JD123456789")
    upstream.set(orders[2].order_no, status="failed", reason="号码资源不足，开卡失败")
    second = runner.invoke(args=["cardshop", "upstream-sync"])
    assert second.exit_code == 0, second.output
    assert "polled: 3 moved, 1 unchanged, 0 failed" in second.output
    db.session.expire_all()
    shipped, activated, failed, waiting = (db.session.get(Order, o.id) for o in orders)
    assert (shipped.status, shipped.courier, shipped.tracking_no) == ("shipped", "顺丰速运", "SF9988776655")
    assert [e.to_status for e in activated.events] == ["submitted", "opening", "shipped", "activated"]
    assert (failed.status, failed.status_reason) == ("open_failed", "号码资源不足，开卡失败")
    assert waiting.status == "opening"
    assert db.session.scalar(select(Product.stock_sold)) == 3 and stock.counters(["T-1"]) == [[2], [2], [2]]
    third = runner.invoke(args=["cardshop", "upstream-sync"])
    assert "polled: 0 moved, 3 unchanged" in third.output, "polling again changes nothing"
    assert len(upstream.posts) == 4


def test_the_configured_adapter_is_manual_without_an_upstream_url(app, client, make_product) -> None:
    make_product("T-1", stock_total=5)
    order = place(client, "T-1", 1)
    result = app.test_cli_runner().invoke(args=["cardshop", "upstream-sync"])
    assert "via manual" in result.output
    assert db.session.get(Order, order.id).status == "opening"
    assert db.session.scalars(select(UpstreamSubmission)).one().upstream_ref == f"manual-{order.order_no}"
