"""Factories for agent tests: agents in a chain, sales through their shops, signed callbacks."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Any

from flask import g
from sqlalchemy import select

from cardshop.extensions import db
from cardshop.models import Agent, LedgerEntry, Order, Wallet
from cardshop.services import upstream
from cardshop.services.agents import hasher

from .support import order_payload

SECRET = "dev-upstream-secret"
_phones = itertools.count(1)
_events = itertools.count(1)
_customers = itertools.count(100)
PASSWORD = "secret123"


def make_agent(level: int = 0, upline: Agent | None = None, *, verified: bool = True, password: str = "") -> Agent:
    n = next(_phones)
    agent = Agent(
        phone=f"1370000{n:04d}",
        name="李四" if verified else "",
        password_hash=hasher.hash(password) if password else "",
        invite_code=f"9{n:05d}",
        shop_code=f"shop{n:05d}",
        shop_name=f"测试小店{n:05d}",
        upline_id=upline.id if upline else None,
        level=level,
        verified=verified,
    )
    db.session.add(agent)
    db.session.commit()
    return agent


def chain(*levels: int) -> list[Agent]:
    """Agents from the top down: chain(3, 2, 1, 0) is 商务 → 金钻 → 黑钻 → 普通; returns them top first."""
    agents: list[Agent] = []
    for level in levels:
        agents.append(make_agent(level, agents[-1] if agents else None))
    return agents


def sell(client: Any, agent: Agent | None, sku: str = "T-1", qty: int = 1) -> Order:
    n = next(_customers)
    payload = order_payload(sku, n, qty=qty, **({"shop_code": agent.shop_code} if agent else {}))
    response = client.post("/api/orders", json=payload, headers={"Idempotency-Key": f"sale-{n}"})
    assert response.status_code == 201, response.json
    return db.session.scalars(select(Order).where(Order.order_no == response.json["order_no"])).one()


def callback(client: Any, order_no: str, event: str, *, secret: str = SECRET, event_id: str = "", **extra: Any) -> Any:
    body = {"event_id": event_id or f"ev-{next(_events)}", "order_no": order_no, "event": event, **extra}
    if isinstance(body.get("at"), datetime):
        body["at"] = body["at"].isoformat()
    raw = json.dumps(body).encode()
    return client.post(
        "/api/upstream/callback",
        data=raw,
        headers={"X-Signature": upstream.sign(raw, secret), "Content-Type": "application/json"},
    )


def deliver(client: Any, order: Order, *events: str, at: datetime | None = None) -> None:
    """Walk an order through upstream events, asserting each is applied."""
    extras = {
        "shipped": {"courier": "顺丰速运", "tracking_no": "SF1234567890"},
        "failed": {"reason": "号码资源不足"},
    }
    for event in events:
        response = callback(client, order.order_no, event, **extras.get(event, {}), **({"at": at} if at else {}))
        assert response.status_code == 200, response.json


def balances(agent: Agent) -> dict[str, int]:
    db.session.expire_all()
    wallet = db.session.get(Wallet, agent.id)
    buckets = ("pending", "frozen", "settled", "withdrawing", "withdrawn", "points")
    return {bucket: (wallet.balance(bucket) if wallet else 0) for bucket in buckets}


def assert_ledger_adds_up() -> None:
    """Every wallet equals the sum of its entries, and each bucket's entries chain before -> after."""
    db.session.expire_all()
    entries = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id)).all()
    running: dict[tuple[int, str], int] = {}
    for entry in entries:
        key = (entry.agent_id, entry.bucket)
        assert entry.balance_before == running.get(key, 0), entry
        assert entry.balance_after == entry.balance_before + entry.delta
        assert entry.balance_after >= 0
        running[key] = entry.balance_after
    for wallet in db.session.scalars(select(Wallet)):
        for bucket in ("pending", "frozen", "settled", "withdrawing", "withdrawn", "points"):
            assert wallet.balance(bucket) == running.get((wallet.agent_id, bucket), 0), (wallet.agent_id, bucket)


def log_in_as(client: Any, agent: Agent) -> Any:
    """Put the agent in the client's session the way Flask-Login does after a login."""
    with client.session_transaction() as session:
        session["_user_id"] = agent.get_id()
        session["_fresh"] = True
    # The tests' app context outlives requests, and Flask-Login caches the user on g.
    g.pop("_login_user", None)
    return client
