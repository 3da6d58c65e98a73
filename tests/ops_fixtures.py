"""Fixtures for the ops console: an operator, a logged-in operator's client, an agent's."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from flask_login import UserMixin
from sqlalchemy import select

from cardshop import auth
from cardshop.extensions import db
from cardshop.models import Admin, Agent, Order
from cardshop.services import admins
from cardshop.services.admins import create_admin

from .support import order_payload

OPERATOR_PASSWORD = "correct-horse-battery"


@pytest.fixture
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters: the same code path, a fraction of the CPU."""
    monkeypatch.setattr(admins, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def operator(app: Flask, fast_hashing: None) -> Admin:
    return create_admin(db.session, "ops-wang", OPERATOR_PASSWORD, name="运营小王")


def log_in(client: FlaskClient, username: str = "ops-wang", password: str = OPERATOR_PASSWORD) -> Any:
    return client.post("/ops/login", data={"username": username, "password": password})


@pytest.fixture
def ops(app: Flask, operator: Admin) -> FlaskClient:
    client = app.test_client()
    response = log_in(client)
    assert response.status_code == 302, response.text
    return client


class _AgentUser(UserMixin):
    """Stands in for the agent backend's user class where that branch is not merged."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def get_id(self) -> str:
        return f"agent:{self.agent.id}"


@pytest.fixture
def agent_client(app: Flask, monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    """A client logged in as a verified agent, through the same Flask-Login session."""
    agent = Agent(phone="13900000001", name="李代理", invite_code="A1", shop_code="li01", verified=True)
    db.session.add(agent)
    db.session.commit()
    if "agent" not in auth.loaders:
        monkeypatch.setitem(
            auth.loaders, "agent", lambda raw: _AgentUser(a) if (a := db.session.get(Agent, int(raw))) else None
        )
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = f"agent:{agent.id}"
        session["_fresh"] = True
    return client


def place(client: FlaskClient, sku: str, n: int = 0, **extra: Any) -> Order:
    response = client.post("/api/orders", json=order_payload(sku, n, **extra), headers={"Idempotency-Key": f"k{n}"})
    assert response.status_code == 201, response.json
    return db.session.scalars(select(Order).where(Order.order_no == response.json["order_no"])).one()
