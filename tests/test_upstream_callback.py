"""The signed upstream callback: applied once per event_id, refused (and recorded) when the
move is impossible, and nothing at all happens without the right signature."""

from __future__ import annotations

import json
import threading

from sqlalchemy import func, select

from cardshop.extensions import db
from cardshop.models import LedgerEntry, Order, OrderEvent, UpstreamEvent
from cardshop.services import upstream

from .agent_support import balances, callback, chain, deliver, sell


def test_a_replayed_event_has_no_second_effect(client, make_product) -> None:
    make_product("T-1")
    black, plain = chain(1, 0)
    order = sell(client, plain)
    deliver(client, order, "submitted", "shipped", "activated")
    first = callback(client, order.order_no, "recharged", event_id="up-42")
    entries = db.session.scalar(select(func.count()).select_from(LedgerEntry))
    again = callback(client, order.order_no, "recharged", event_id="up-42")
    assert first.status_code == again.status_code == 200
    assert (first.json["result"], again.json["result"]) == ("applied", "duplicate")
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == entries
    assert balances(plain)["frozen"] == 5000 and balances(black)["frozen"] == 1000
    recharges = db.session.scalars(select(OrderEvent).where(OrderEvent.to_status == "recharged")).all()
    assert len(recharges) == 1


def test_a_bad_signature_is_refused_and_changes_nothing(client, make_product) -> None:
    make_product("T-1")
    order = sell(client, None)
    forged = callback(client, order.order_no, "submitted", secret="guessed-secret")
    body = json.dumps({"event_id": "x1", "order_no": order.order_no, "event": "submitted"}).encode()
    unsigned = client.post("/api/upstream/callback", data=body, headers={"Content-Type": "application/json"})
    tampered = client.post(
        "/api/upstream/callback",
        data=body.replace(b"submitted", b"failed"),
        headers={"X-Signature": upstream.sign(body, "dev-upstream-secret"), "Content-Type": "application/json"},
    )
    assert forged.status_code == unsigned.status_code == tampered.status_code == 401
    assert forged.json["error"] == "bad_signature"
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "submitted"
    assert db.session.scalar(select(func.count()).select_from(UpstreamEvent)) == 0
    assert len(db.session.get(Order, order.id).events) == 1


def test_activated_before_shipped_is_recorded_and_refused(client, make_product) -> None:
    make_product("T-1")
    _black, plain = chain(1, 0)
    order = sell(client, plain)
    deliver(client, order, "submitted")
    early = callback(client, order.order_no, "activated", event_id="up-7")
    assert early.status_code == 409 and early.json["error"] == "conflict"
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "opening"
    refused = db.session.scalars(select(OrderEvent).where(OrderEvent.accepted.is_(False))).one()
    assert (refused.from_status, refused.to_status, refused.source) == ("opening", "activated", "upstream")
    recorded = db.session.scalars(select(UpstreamEvent).where(UpstreamEvent.event_id == "up-7")).one()
    assert recorded.outcome == "refused"
    assert callback(client, order.order_no, "activated", event_id="up-7").status_code == 409
    assert balances(plain)["pending"] == 5000 and balances(plain)["frozen"] == 0
    deliver(client, order, "shipped", "activated")  # the real order of events still works
    assert db.session.get(Order, order.id).status == "activated"


def test_shipped_carries_courier_and_failed_carries_its_reason(client, make_product) -> None:
    make_product("T-1", stock_total=2)
    shipped, failed = sell(client, None), sell(client, None)
    deliver(client, shipped, "submitted", "shipped")
    deliver(client, failed, "submitted", "failed")
    db.session.expire_all()
    shown = db.session.get(Order, shipped.id)
    assert (shown.courier, shown.tracking_no) == ("顺丰速运", "SF1234567890")
    dead = db.session.get(Order, failed.id)
    assert (dead.status, dead.status_reason) == ("open_failed", "号码资源不足")
    missing = callback(client, shipped.order_no, "shipped")
    assert missing.status_code == 422 and "tracking_no" in missing.json["fields"]
    unknown = callback(client, "00000000000000000000", "submitted")
    assert unknown.status_code == 404


def test_a_failure_before_opening_is_a_failed_review(client, make_product) -> None:
    make_product("T-1")
    order = sell(client, None)
    response = callback(client, order.order_no, "failed", reason="身份证照片不清晰")
    assert response.status_code == 200 and response.json["status"] == "rejected"
    db.session.expire_all()
    assert db.session.get(Order, order.id).status_reason == "身份证照片不清晰"


def test_the_same_event_delivered_twice_at_once_applies_once(app, client, make_product) -> None:
    make_product("T-1")
    black, plain = chain(1, 0)
    order = sell(client, plain)
    deliver(client, order, "submitted", "shipped", "activated")
    barrier = threading.Barrier(2)
    answers: list[int] = []

    def deliver_once() -> None:
        other = app.test_client()
        barrier.wait()
        answers.append(callback(other, order.order_no, "recharged", event_id="twin-1").status_code)

    threads = [threading.Thread(target=deliver_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [200, 200]
    assert balances(plain)["frozen"] == 5000 and balances(black)["frozen"] == 1000
    assert db.session.scalar(select(func.count()).select_from(UpstreamEvent)) == 4
