"""Every agent form carries a CSRF token: a post without it changes nothing."""

from __future__ import annotations

import re

import pytest

from cardshop.extensions import db
from cardshop.models import Agent
from cardshop.services.demo import load_demo

from .agent_support import PASSWORD, log_in_as, make_agent


@pytest.fixture
def app_config(app_config):  # type: ignore[no-untyped-def]
    return {**app_config, "WTF_CSRF_ENABLED": True}


def token(client, path: str) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert found, path
    return found.group(1)


def test_forms_without_the_token_are_refused(client) -> None:
    load_demo(db.session)
    form = {"phone": "13912340009", "password": PASSWORD, "confirm": PASSWORD, "invite": "00168"}
    forged = client.post("/agent/register", data=form)
    assert "页面已过期" in forged.get_data(as_text=True)
    assert db.session.query(Agent).filter_by(phone="13912340009").count() == 0
    real = client.post("/agent/register", data={**form, "csrf_token": token(client, "/agent/register")})
    assert real.status_code == 302


def test_logged_in_forms_need_the_token_too(client) -> None:
    agent = make_agent(0)
    log_in_as(client, agent)
    client.post("/agent/shop", data={"shop_name": "伪造店名"})
    client.post("/agent/logout")
    db.session.expire_all()
    assert db.session.get(Agent, agent.id).shop_name != "伪造店名"
    assert client.get("/agent/").status_code == 200  # the forged logout did nothing
    shop_token = token(client, "/agent/shop")
    client.post("/agent/shop", data={"shop_name": "真店名", "csrf_token": shop_token})
    db.session.expire_all()
    assert db.session.get(Agent, agent.id).shop_name == "真店名"
