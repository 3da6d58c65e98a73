"""Operators see the sales force: level, verification, upline and orders, phones masked."""

from __future__ import annotations

from cardshop.extensions import db
from cardshop.models import Agent

from .ops_fixtures import fast_hashing, operator, ops, place  # noqa: F401


def test_agents_are_listed_with_level_verification_and_upline(ops, client, make_product) -> None:  # noqa: F811
    top = Agent(phone="13800000168", name="平台总代", invite_code="00168", shop_code="top168", level=3, verified=True)
    db.session.add(top)
    db.session.flush()
    db.session.add(Agent(phone="13911112222", name="王小二", invite_code="W2", shop_code="wang2", upline_id=top.id))
    db.session.commit()
    make_product("T-1", stock_total=5)
    place(client, "T-1", 1, shop_code="top168")
    page = ops.get("/ops/agents").text
    assert "平台总代" in page and "商务" in page and "已认证" in page
    assert "王小二" in page and "普通代理" in page and "未认证" in page and "平台总代（top168）" in page
    assert "139****2222" in page and "13911112222" not in page
    searched = ops.get("/ops/agents?q=wang2").text
    assert "王小二" in searched and "平台总代</td>" not in searched
