"""Flask-Login's remember-me pass runs only on requests that have something for it
(``SessionSparingLoginManager``): answers that never used the session do not say
``Vary: Cookie``, and logging in and out, remember cookies included, work as before."""

from __future__ import annotations

from flask import Flask
from flask_login import login_user

from cardshop.extensions import db
from cardshop.models import Agent

from .agent_support import PASSWORD, make_agent
from .support import order_payload


def test_answers_that_never_used_the_session_do_not_vary_by_cookie(client, make_product) -> None:
    make_product("V-1", stock_total=5)
    assert "Vary" not in client.get("/healthz").headers
    placed = client.post("/api/orders", json=order_payload("V-1", 1), headers={"Idempotency-Key": "vary-1"})
    assert placed.status_code == 201 and "Cookie" not in placed.headers.get("Vary", "")
    login_page = client.get("/agent/login")  # its form's CSRF token lives in the session
    assert "Cookie" in login_page.headers["Vary"]


def test_logging_in_and_out_still_works(client) -> None:
    agent = make_agent(password=PASSWORD)
    assert client.get("/agent/").status_code == 302
    assert client.post("/agent/login", data={"phone": agent.phone, "password": PASSWORD}).status_code == 302
    assert client.get("/agent/").status_code == 200
    client.post("/agent/logout")
    assert client.get("/agent/").status_code == 302


def test_a_remember_cookie_brought_to_a_logout_is_cleared(client) -> None:
    agent = make_agent(password=PASSWORD)
    client.post("/agent/login", data={"phone": agent.phone, "password": PASSWORD})
    client.set_cookie("remember_token", "stale")
    out = client.post("/agent/logout")
    cleared = [c for c in out.headers.getlist("Set-Cookie") if c.startswith("remember_token=")]
    assert cleared and "Expires=Thu, 01 Jan 1970" in cleared[0]


def test_a_login_that_asks_to_be_remembered_gets_its_cookie(app: Flask, client) -> None:
    agent = make_agent(password=PASSWORD)

    @app.post("/test-remembered-login")
    def remembered_login() -> str:
        login_user(db.session.get(Agent, agent.id), remember=True)
        return "ok"

    response = client.post("/test-remembered-login")
    assert any(c.startswith("remember_token=") for c in response.headers.getlist("Set-Cookie"))
