"""Operators keep the blocklist: a blocked ID number or phone cannot order; entries are
shown masked, checked before they are added, and can be removed again."""

from __future__ import annotations

from sqlalchemy import select

from cardshop.extensions import db
from cardshop.models.risk import BlockEntry

from .ops_fixtures import fast_hashing, operator, ops  # noqa: F401
from .support import id_card, order_payload


def test_a_blocked_id_number_cannot_order_until_removed(ops, client, make_product) -> None:  # noqa: F811
    make_product("T-1", stock_total=5)
    blocked = id_card("19900101", "777")
    added = ops.post("/ops/blocklist", data={"kind": "id_card", "value": blocked, "reason": "多次恶意下单"})
    assert added.status_code == 302
    page = ops.get("/ops/blocklist").text
    assert "110105********777" in page and blocked not in page and "多次恶意下单" in page and "admin:ops-wang" in page
    payload = order_payload("T-1", 1, customer={"id_card": blocked})
    refused = client.post("/api/orders", json=payload, headers={"Idempotency-Key": "b1"})
    assert refused.status_code == 422 and refused.json["error"] == "risk_refused"
    entry = db.session.scalars(select(BlockEntry)).one()
    ops.post(f"/ops/blocklist/{entry.id}/remove")
    assert client.post("/api/orders", json=payload, headers={"Idempotency-Key": "b2"}).status_code == 201


def test_bad_entries_are_refused_with_a_reason(ops) -> None:  # noqa: F811
    wrong = ops.post("/ops/blocklist", data={"kind": "phone", "value": "1234", "reason": "x"}, follow_redirects=True)
    assert "flash error" in wrong.text
    no_reason = ops.post(
        "/ops/blocklist", data={"kind": "phone", "value": "13812345678", "reason": ""}, follow_redirects=True
    )
    assert "请填写拉黑原因" in no_reason.text
    assert db.session.scalars(select(BlockEntry)).all() == []
    ops.post("/ops/blocklist", data={"kind": "phone", "value": "13812345678", "reason": "骚扰电话"})
    assert "138****5678" in ops.get("/ops/blocklist").text
