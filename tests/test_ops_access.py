"""Only operators reach /ops: anonymous visitors are sent to the ops login, agents are
refused, on every route and every method, and nothing they send changes anything."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from cardshop.extensions import db
from cardshop.models import Admin, StockEntry
from cardshop.services.admins import authenticate

from .ops_fixtures import agent_client, fast_hashing, log_in, operator, ops  # noqa: F401

SAMPLE_ARGS = {"sku": "T-1", "order_no": "20260101000000000001", "withdrawal_id": "1", "entry_id": "1"}


def ops_routes(app):  # type: ignore[no-untyped-def]
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/ops") or rule.endpoint == "ops.login":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: SAMPLE_ARGS[m.group(1)], rule.rule)
        for method in sorted(rule.methods & {"GET", "POST"}):
            yield method, path


def test_every_ops_route_sends_anonymous_users_to_the_login(app, client, make_product) -> None:
    make_product("T-1", stock_total=3)
    routes = list(ops_routes(app))
    assert len(routes) >= 15
    for method, path in routes:
        response = client.open(path, method=method, data={"qty": "5"})
        assert response.status_code == 302, (method, path)
        assert response.headers["Location"].startswith("/ops/login"), (method, path)
    assert db.session.scalar(select(func.count()).select_from(StockEntry)) == 1  # only the fixture's restock


def test_every_ops_route_refuses_an_agent(app, agent_client, make_product) -> None:  # noqa: F811
    make_product("T-1", stock_total=3)
    for method, path in ops_routes(app):
        response = agent_client.open(path, method=method, data={"qty": "5"})
        assert response.status_code == 403, (method, path)
    assert db.session.scalar(select(func.count()).select_from(StockEntry)) == 1


def test_an_operator_gets_in_and_back_to_the_page_asked_for(app, client, operator) -> None:  # noqa: F811
    asked = client.get("/ops/system")
    assert asked.headers["Location"] == "/ops/login?next=/ops/system"
    response = client.post(
        asked.headers["Location"], data={"username": "OPS-WANG", "password": "correct-horse-battery"}
    )
    assert response.headers["Location"] == "/ops/system"
    assert client.get("/ops/products").status_code == 200


def test_login_never_redirects_off_site(client, operator) -> None:  # noqa: F811
    response = client.post(
        "/ops/login?next=//evil.example/ops", data={"username": "ops-wang", "password": "correct-horse-battery"}
    )
    assert response.headers["Location"] == "/ops/"


def test_wrong_passwords_lock_the_account(app, client, operator) -> None:  # noqa: F811
    app.config["LOGIN_MAX_FAILURES"] = 3
    for _ in range(3):
        refused = log_in(client, password="wrong-password-123")
        assert refused.status_code == 200 and "用户名或密码错误" in refused.text
    locked = log_in(client)
    assert locked.status_code == 200, "the right password is refused while locked"
    assert db.session.get(Admin, operator.id).locked_until is not None
    with pytest.raises(Exception, match="用户名或密码错误"):
        authenticate(db.session, "nobody", "whatever-password", max_failures=3, lock_minutes=1)


def test_console_pages_are_never_cached_or_framed(ops) -> None:  # noqa: F811
    page = ops.get("/ops/orders")
    assert page.headers["Cache-Control"] == "no-store" and page.headers["X-Frame-Options"] == "DENY"


def test_logging_out_ends_the_session(ops) -> None:  # noqa: F811
    assert ops.get("/ops/orders").status_code == 200
    ops.post("/ops/logout")
    assert ops.get("/ops/orders").status_code == 302


def test_create_admin_from_the_command_line(app) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["cardshop", "create-admin", "--username", "ops-li", "--name", "李运营"],
        input="a-long-password\na-long-password\n",
    )
    assert result.exit_code == 0, result.output
    admin = db.session.scalars(select(Admin).where(Admin.username == "ops-li")).one()
    assert admin.name == "李运营" and "a-long-password" not in admin.password_hash
    again = runner.invoke(
        args=["cardshop", "create-admin", "--username", "ops-li", "--password", "another-password"],
    )
    assert again.exit_code != 0 and "已存在" in again.output
    short = runner.invoke(args=["cardshop", "create-admin", "--username", "ops-zh", "--password", "short"])
    assert short.exit_code != 0 and "密码至少" in short.output
