"""Agent accounts: registration with an invite code, login with lockout, real-name
verification, and the shop gate until verified."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import flask
from sqlalchemy import select

from cardshop.extensions import db
from cardshop.models import Agent
from cardshop.services.demo import load_demo

from .agent_support import PASSWORD, log_in_as, make_agent
from .support import id_card, order_payload

ID_NUMBER = id_card("19900307", "421")
WRONG_CHECK = ID_NUMBER[:-1] + ("1" if ID_NUMBER[-1] != "1" else "2")


def register(client, phone="13912340001", invite="00168", password=PASSWORD):  # type: ignore[no-untyped-def]
    form = {"phone": phone, "password": password, "confirm": password, "invite": invite}
    return client.post("/agent/register", data=form)


def test_register_with_the_root_invite_code_makes_root_the_upline(client, app) -> None:
    load_demo(db.session)
    response = register(client)
    assert response.status_code == 302 and response.headers["Location"].endswith("/agent/verify")
    agent = db.session.scalars(select(Agent).where(Agent.phone == "13912340001")).one()
    root = db.session.scalars(select(Agent).where(Agent.invite_code == "00168")).one()
    assert agent.upline_id == root.id and agent.level == 0 and not agent.verified
    assert agent.password_hash.startswith("$argon2id$") and PASSWORD not in agent.password_hash
    assert agent.invite_code != root.invite_code and len(agent.shop_code) == 8
    by_phone = register(app.test_client(), phone="13912340002", invite=agent.phone)
    assert by_phone.status_code == 302
    assert db.session.scalars(select(Agent).where(Agent.phone == "13912340002")).one().upline_id == agent.id


def test_registration_refuses_a_taken_phone_a_bad_code_and_a_weak_password(client) -> None:
    load_demo(db.session)
    register(client)
    twice = register(client.application.test_client()).get_data(as_text=True)
    bad_code = register(client, phone="13912340003", invite="99999").get_data(as_text=True)
    weak = register(client, phone="13912340004", password="12345678").get_data(as_text=True)
    assert "该手机号已注册" in twice and "邀请码无效" in bad_code and "字母和数字" in weak
    assert db.session.scalar(select(db.func.count()).select_from(Agent)) == 2  # root + the first


def test_five_wrong_passwords_lock_the_account_for_thirty_minutes(client) -> None:
    agent = make_agent(password=PASSWORD)
    for attempt in range(1, 5):
        page = client.post("/agent/login", data={"phone": agent.phone, "password": "wrong-pass1"}).get_data(
            as_text=True
        )
        assert f"再错 {5 - attempt} 次" in page
    locked = client.post("/agent/login", data={"phone": agent.phone, "password": "wrong-pass1"})
    assert "已锁定" in locked.get_data(as_text=True)
    right = client.post("/agent/login", data={"phone": agent.phone, "password": PASSWORD})
    assert right.status_code == 200 and "已锁定" in right.get_data(as_text=True)
    assert client.get("/agent/").status_code == 302
    db.session.expire_all()
    until = db.session.get(Agent, agent.id).locked_until
    assert timedelta(minutes=29) < until - datetime.now(UTC) <= timedelta(minutes=30)
    db.session.get(Agent, agent.id).locked_until = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    after = client.post("/agent/login", data={"phone": agent.phone, "password": PASSWORD})
    assert after.status_code == 302 and client.get("/agent/").status_code == 200


def test_an_unknown_phone_gets_the_same_answer_as_a_wrong_password(client) -> None:
    page = client.post("/agent/login", data={"phone": "13999999999", "password": "whatever1"}).get_data(as_text=True)
    assert "手机号或密码错误" in page


def test_login_sets_a_hardened_session_cookie(client) -> None:
    agent = make_agent(password=PASSWORD)
    response = client.post("/agent/login?next=/agent/team", data={"phone": agent.phone, "password": PASSWORD})
    assert response.headers["Location"] == "/agent/team"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    evil = client.post("/agent/login?next=//evil.example/x", data={"phone": agent.phone, "password": PASSWORD})
    assert evil.headers["Location"] == "/agent/"


def test_sessions_follow_the_secret_key_and_its_fallbacks(app) -> None:
    interface = app.session_interface
    signed = interface.get_signing_serializer(app).dumps({"_user_id": "agent:1"})
    assert interface.get_signing_serializer(app) is interface.get_signing_serializer(app)  # built once

    def opened() -> dict:  # type: ignore[type-arg]
        with app.test_request_context("/", headers={"Cookie": f"{app.config['SESSION_COOKIE_NAME']}={signed}"}):
            return dict(interface.open_session(app, flask.request))

    assert opened() == {"_user_id": "agent:1"}
    old_key, app.secret_key = app.secret_key, "a-rotated-key"
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    assert opened() == {"_user_id": "agent:1"}  # signed with a fallback key: still good
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert opened() == {}  # signed with no key in use: logged out


def test_until_verified_the_shop_does_not_sell(client, make_product, caplog) -> None:
    make_product("T-1")
    agent = make_agent(verified=False)
    log_in_as(client, agent)
    assert "店铺未开通" in client.get("/agent/shop").get_data(as_text=True)
    refused = client.post("/api/orders", json=order_payload("T-1", 1, shop_code=agent.shop_code))
    assert refused.status_code == 422 and "店铺未开通" in refused.json["fields"]["shop_code"]

    caplog.set_level(logging.DEBUG)
    bad = client.post("/agent/verify", data={"name": "王五", "id_card": WRONG_CHECK})
    assert "校验位" in bad.get_data(as_text=True)
    done = client.post("/agent/verify", data={"name": "王五", "id_card": ID_NUMBER}, follow_redirects=True)
    assert "实名认证成功" in done.get_data(as_text=True)
    db.session.expire_all()
    stored = db.session.get(Agent, agent.id)
    assert stored.verified and stored.id_card_masked == ID_NUMBER[:6] + "********" + ID_NUMBER[-4:]
    row = db.session.execute(select(Agent.__table__)).mappings().all()
    assert not any(ID_NUMBER in str(value) for mapping in row for value in mapping.values())
    for path in ("/agent/", "/agent/verify", "/agent/shop", "/agent/team"):
        assert ID_NUMBER not in client.get(path).get_data(as_text=True)
    assert ID_NUMBER not in caplog.text
    sold = client.post("/api/orders", json=order_payload("T-1", 2, shop_code=agent.shop_code))
    assert sold.status_code == 201


def test_one_id_number_verifies_one_account(client) -> None:
    first, second = make_agent(verified=False), make_agent(verified=False)
    log_in_as(client, first).post("/agent/verify", data={"name": "王五", "id_card": ID_NUMBER})
    page = log_in_as(client, second).post("/agent/verify", data={"name": "王五", "id_card": ID_NUMBER.lower()})
    assert "已认证过其他代理账号" in page.get_data(as_text=True)
    db.session.expire_all()
    assert not db.session.get(Agent, second.id).verified


def test_a_minor_cannot_become_an_agent(client) -> None:
    agent = make_agent(verified=False)
    young = id_card(f"{datetime.now(UTC).year - 15}0101", "123")
    page = log_in_as(client, agent).post("/agent/verify", data={"name": "王五", "id_card": young})
    assert "年满 18 周岁" in page.get_data(as_text=True)


def test_an_operator_sets_the_demo_roots_password_and_it_logs_in(app, client) -> None:
    load_demo(db.session)
    runner = app.test_cli_runner()
    weak = runner.invoke(args=["cardshop", "agent-password", "13800000168", "--password", "short"])
    assert weak.exit_code != 0 and "至少 8 位" in weak.output
    done = runner.invoke(args=["cardshop", "agent-password", "13800000168", "--password", "rootpass168"])
    assert "password set" in done.output
    response = client.post("/agent/login", data={"phone": "13800000168", "password": "rootpass168"})
    assert response.status_code == 302
    assert "商务" in client.get("/agent/").get_data(as_text=True)
