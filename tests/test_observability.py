"""What operators watch: /metrics (orders by outcome, node gauges, multiprocess under
gunicorn), /readyz on quorum loss, and logs that carry a request id and never an ID
number or a full phone number."""

from __future__ import annotations

import json
import logging
import re

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from cardshop.logs import JsonFormatter, RequestIdFilter, ScrubFilter, scrub

from .support import id_card, order_payload


def sample(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + wanted + '}') if labels else ''} (\S+)$"
    found = re.search(pattern, text, flags=re.M)
    return float(found.group(1)) if found else None


def counter_delta(client, name: str, **labels: str):  # type: ignore[no-untyped-def]
    before = sample(client.get("/metrics").text, name, **labels) or 0.0
    return lambda: (sample(client.get("/metrics").text, name, **labels) or 0.0) - before


def test_orders_are_counted_by_outcome(client, make_product) -> None:
    make_product("T-1", stock_total=1)
    created = counter_delta(client, "cardshop_orders_total", outcome="created")
    sold_out = counter_delta(client, "cardshop_orders_total", outcome="sold_out")
    invalid = counter_delta(client, "cardshop_orders_total", outcome="invalid")
    duplicate = counter_delta(client, "cardshop_orders_total", outcome="duplicate")
    assert client.post("/api/orders", json=order_payload("T-1", 1), headers={"Idempotency-Key": "a"}).status_code == 201
    assert client.post("/api/orders", json=order_payload("T-1", 1), headers={"Idempotency-Key": "a"}).status_code == 200
    assert client.post("/api/orders", json=order_payload("T-1", 2), headers={"Idempotency-Key": "b"}).status_code == 409
    too_young = order_payload("T-1", 3, customer={"id_card": id_card("20150101", "003")})
    assert client.post("/api/orders", json=too_young).status_code == 422
    assert (created(), duplicate(), sold_out(), invalid()) == (1, 1, 1, 1)


def test_metrics_show_each_node_and_the_quorum(client, nodes) -> None:
    text = client.get("/metrics").text
    assert [sample(text, "cardshop_redis_node_up", node=str(i)) for i in range(3)] == [1.0, 1.0, 1.0]
    assert sample(text, "cardshop_redis_quorum") == 1.0
    assert 0 < (sample(text, "cardshop_redis_node_latency_seconds", node="0") or 0) < 0.5
    for name in ("cardshop_lock_wait_seconds_count", "cardshop_quorum_failures_total"):
        assert sample(text, name) is not None, name
    nodes.nodes[1].kill()
    text = client.get("/metrics").text
    assert sample(text, "cardshop_redis_node_up", node="1") == 0.0 and sample(text, "cardshop_redis_quorum") == 1.0
    nodes.nodes[2].kill()
    assert sample(client.get("/metrics").text, "cardshop_redis_quorum") == 0.0


def test_metrics_can_require_a_token(app, client) -> None:
    app.config["METRICS_TOKEN"] = "scrape-secret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    allowed = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert allowed.status_code == 200 and "cardshop_redis_quorum" in allowed.text


def test_readyz_reflects_quorum_loss(client, nodes) -> None:
    assert client.get("/readyz").status_code == 200
    nodes.nodes[0].kill()
    assert client.get("/readyz").status_code == 200, "one node down: still ready"
    nodes.nodes[1].kill()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json["error"] == "stock_unavailable"


def test_the_stock_core_hooks_feed_the_metrics(client) -> None:
    from cardshop import metrics

    busy = counter_delta(client, "cardshop_lock_failures_total", reason="busy")
    waits = counter_delta(client, "cardshop_lock_wait_seconds_count")
    errors = counter_delta(client, "cardshop_redis_node_errors_total", node="2")
    metrics.count_lock_failure("busy")
    metrics.observe_lock_wait(0.02)
    metrics.count_node_error(2)
    metrics.observe_stock_path(0.01, "created")
    assert (busy(), waits(), errors()) == (1, 1, 1)


def test_personal_numbers_are_masked_in_any_log_line() -> None:
    line = "order for 110105199001011237 phone 13812345678 x11010519900101123X, order 20261125120000123456"
    assert (
        scrub(line) == "order for 110105********1237 phone 138****5678 x11010519900101123X, order 20261125120000123456"
    )
    assert scrub("11010519900101123X") == "110105********123X"
    assert scrub("手机13812345678，身份证110105199001011237。") == "手机138****5678，身份证110105********1237。"
    request_id = "ab13812345678cd0123456789012345f"  # digits inside an id are not a phone
    assert scrub(f"req={request_id}") == f"req={request_id}"
    record = logging.makeLogRecord({"msg": "buyer %s", "args": ("13987654321",), "name": "t", "levelname": "INFO"})
    RequestIdFilter().filter(record)
    ScrubFilter().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "buyer 139****4321" and "request_id" in entry


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(alphabet="0123456789", min_size=1, max_size=20),
            st.sampled_from(["13812345678", "11010519900101123X", "110105199001011237", "x", "X", "-", " ", "１３"]),
            st.text(max_size=6),
        ),
        max_size=8,
    ).map("".join)
)
def test_the_quick_scrub_masks_exactly_what_the_patterns_mask(text: str) -> None:
    from cardshop.logs import _ID_CARD, _MOBILE
    from cardshop.validation import mask_id_card, mask_phone

    slow = _MOBILE.sub(lambda m: mask_phone(m.group()), _ID_CARD.sub(lambda m: mask_id_card(m.group()), text))
    assert scrub(text) == slow


def test_a_request_id_is_echoed_or_made(client) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "lb-req-0001"})
    assert given.headers["X-Request-ID"] == "lb-req-0001"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])


@pytest.mark.gunicorn
def test_a_purchase_through_gunicorn_logs_json_with_request_ids_and_no_personal_data(serve, make_product) -> None:
    make_product("T-1", stock_total=5)
    server = serve(workers=2, CARDSHOP_ACCESS_LOG="-")
    payloads = [order_payload("T-1", n) for n in (11, 12, 13)]
    for n, payload in enumerate(payloads):
        placed = requests.post(
            f"{server.url}/api/orders", json=payload, headers={"Idempotency-Key": f"g{n}"}, timeout=10
        )
        assert placed.status_code == 201, placed.text
        phone = payload["customer"]["phone"]
        seen = requests.get(f"{server.url}/api/orders/{placed.json()['order_no']}", params={"phone": phone}, timeout=5)
        assert seen.status_code == 200
    bad = order_payload("T-1", 14, customer={"id_card": "110105199001011234"})
    assert requests.post(f"{server.url}/api/orders", json=bad, timeout=5).status_code == 422
    # Every worker's counts add up, whichever worker answers the scrape.
    scrapes = [requests.get(f"{server.url}/metrics", timeout=5).text for _ in range(6)]
    assert {sample(text, "cardshop_orders_total", outcome="created") for text in scrapes} == {3.0}
    server.stop()

    lines = server.log_path.read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines if line.strip()]
    assert len(entries) == len(lines), "every line is JSON"
    requests_logged = [e for e in entries if e["logger"] in ("cardshop.access", "gunicorn.access")]
    assert len(requests_logged) >= 2 * 8
    without_id = [
        e
        for e in requests_logged
        if e["logger"] == "cardshop.access" and not re.fullmatch(r"[0-9a-f]{32}", e["request_id"] or "")
    ]
    assert without_id == []
    unmarked = [
        e
        for e in requests_logged
        if e["logger"] == "gunicorn.access" and not re.search(r"req=[0-9a-f]{32}", e["message"])
    ]
    assert unmarked == []
    text = "\n".join(lines)
    for payload in [*payloads, bad]:
        assert payload["customer"]["id_card"] not in text
        assert payload["customer"]["phone"] not in text
    # Library chatter stays out: pottery's script registrations are INFO lines.
    assert [e for e in entries if e["logger"].startswith("pottery")] == []
