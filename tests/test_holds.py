"""Number holds (选号) on three real Redis nodes: one winner per number, holds that
expire by themselves, survive one node and refuse without a majority, and a sale that
respects them."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from cardshop import runtime
from cardshop.errors import NumberTaken, StockUnavailable
from cardshop.extensions import db
from cardshop.models import Order, PhoneNumber
from cardshop.services.holds import HoldService, index_key, number_key

from .support import order_payload

POOL = ["13912340001", "13912348888", "13912341234", "13912345566", "13912349999"]


@pytest.fixture
def app_config(app_config):  # type: ignore[no-untyped-def]
    return {**app_config, "HOLD_SECONDS": 2}


@pytest.fixture
def picker_product(make_product):  # type: ignore[no-untyped-def]
    product = make_product("PICK-1", stock_total=10, number_selectable=True, carrier="mobile")
    db.session.add_all(PhoneNumber(product_id=product.id, msisdn=msisdn) for msisdn in POOL)
    db.session.commit()
    return product


def listed(client, **params) -> list[str]:  # type: ignore[no-untyped-def]
    response = client.get("/api/products/PICK-1/numbers", query_string=params)
    assert response.status_code == 200, response.json
    return [row["msisdn"] for row in response.json["numbers"]]


def test_a_held_number_disappears_for_others_and_stays_for_its_holder(app, picker_product) -> None:
    alice, bob = app.test_client(), app.test_client()
    held = alice.post("/api/products/PICK-1/numbers/13912348888/hold")
    assert held.status_code == 200
    assert held.json["msisdn"] == "13912348888" and held.json["hold_token"]
    assert 0 < held.json["seconds_left"] <= 2
    assert "13912348888" not in listed(bob)
    mine = alice.get("/api/products/PICK-1/numbers").json
    assert mine["held_by_you"] == "13912348888"
    assert {"msisdn": "13912348888", "tags": ["AAAA"], "held_by_you": True} in mine["numbers"]
    refused = bob.post("/api/products/PICK-1/numbers/13912348888/hold")
    assert refused.status_code == 409 and refused.json["error"] == "number_taken"


def test_two_customers_racing_for_one_number_get_exactly_one_hold(app, picker_product) -> None:
    holds = runtime.holds()
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def race(owner: str) -> None:
        barrier.wait()
        try:
            holds.hold("PICK-1", "13912341234", owner)
            outcomes.append(owner)
        except NumberTaken:
            outcomes.append("taken")

    threads = [threading.Thread(target=race, args=(f"customer-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if o != "taken"]
    assert len(winners) == 1 and outcomes.count("taken") == 7
    owners = [client.get(number_key("PICK-1", "13912341234")) for client in holds.nodes.clients]
    assert owners.count(winners[0].encode()) >= 2  # the winner holds a majority
    assert set(owners) <= {winners[0].encode(), None}  # the losers left nothing behind


def test_a_hold_expires_by_itself_and_frees_the_number(app, picker_product) -> None:
    alice, bob = app.test_client(), app.test_client()
    assert alice.post("/api/products/PICK-1/numbers/13912349999/hold").status_code == 200
    assert "13912349999" not in listed(bob)
    time.sleep(2.1)
    assert "13912349999" in listed(bob)
    assert bob.post("/api/products/PICK-1/numbers/13912349999/hold").status_code == 200


def test_holding_another_number_releases_the_first(app, picker_product) -> None:
    alice, bob = app.test_client(), app.test_client()
    alice.post("/api/products/PICK-1/numbers/13912340001/hold")
    alice.post("/api/products/PICK-1/numbers/13912345566/hold")
    others_see = listed(bob)
    assert "13912340001" in others_see and "13912345566" not in others_see
    assert bob.post("/api/products/PICK-1/numbers/13912340001/hold").status_code == 200


def test_a_node_down_keeps_holds_and_two_down_refuse_with_503(app, picker_product, nodes) -> None:
    alice, bob = app.test_client(), app.test_client()
    assert alice.post("/api/products/PICK-1/numbers/13912348888/hold").status_code == 200
    nodes.nodes[0].kill()
    assert bob.post("/api/products/PICK-1/numbers/13912348888/hold").status_code == 409
    assert "13912348888" not in listed(bob)
    assert bob.post("/api/products/PICK-1/numbers/13912341234/hold").status_code == 200
    nodes.nodes[1].kill()
    refused = bob.post("/api/products/PICK-1/numbers/13912340001/hold")
    assert refused.status_code == 503 and refused.json["error"] == "stock_unavailable"
    assert bob.get("/api/products/PICK-1/numbers").status_code == 503


def test_a_hold_won_on_a_minority_is_rolled_back(app, picker_product, nodes) -> None:
    holds = runtime.holds()
    holds.hold("PICK-1", "13912348888", "alice")
    nodes.nodes[2].restart()  # comes back empty: alice's hold lives on nodes 0 and 1
    with pytest.raises(NumberTaken):
        holds.hold("PICK-1", "13912348888", "bob")  # node 2 granted it, the majority did not
    assert holds.nodes.clients[2].get(number_key("PICK-1", "13912348888")) is None
    assert holds.nodes.clients[2].zrange(index_key("PICK-1"), 0, -1) == []
    held = holds.holding("alice", "PICK-1")
    assert held is not None and held.msisdn == "13912348888"


def test_without_a_majority_nothing_is_held(app, picker_product, nodes) -> None:
    nodes.nodes[1].kill()
    nodes.nodes[2].kill()
    holds = HoldService(runtime.runtime().nodes, seconds=5)
    with pytest.raises(StockUnavailable):
        holds.hold("PICK-1", "13912340001", "alice")
    assert holds.nodes.clients[0].get(number_key("PICK-1", "13912340001")) is None


def test_buying_a_number_someone_else_holds_is_409_number_taken(app, picker_product) -> None:
    alice, bob = app.test_client(), app.test_client()
    alice.post("/api/products/PICK-1/numbers/13912348888/hold")
    response = bob.post(
        "/api/orders", json=order_payload("PICK-1", 2, number="13912348888"), headers={"Idempotency-Key": "b"}
    )
    assert response.status_code == 409 and response.json["error"] == "number_taken"
    assert db.session.scalar(select(Order.id)) is None
    assert db.session.scalar(select(PhoneNumber.status).where(PhoneNumber.msisdn == "13912348888")) == "free"


def test_the_holder_buys_the_number_and_the_hold_is_released(app, picker_product) -> None:
    alice = app.test_client()
    token = alice.post("/api/products/PICK-1/numbers/13912348888/hold").json["hold_token"]
    payload = order_payload("PICK-1", 1, number="13912348888", hold_token=token)
    response = alice.post("/api/orders", json=payload, headers={"Idempotency-Key": "a"})
    assert response.status_code == 201, response.json
    number = db.session.scalars(select(PhoneNumber).where(PhoneNumber.msisdn == "13912348888")).one()
    assert number.status == "sold"
    assert all(c.get(number_key("PICK-1", "13912348888")) is None for c in runtime.holds().nodes.clients)
    assert "13912348888" not in listed(app.test_client())  # sold numbers are not offered


def test_a_number_nobody_holds_can_be_bought_directly_once(app, picker_product) -> None:
    client = app.test_client()
    first = client.post(
        "/api/orders", json=order_payload("PICK-1", 1, number="13912340001"), headers={"Idempotency-Key": "1"}
    )
    second = client.post(
        "/api/orders", json=order_payload("PICK-1", 2, number="13912340001"), headers={"Idempotency-Key": "2"}
    )
    assert (first.status_code, second.status_code) == (201, 409)
    assert second.json["error"] == "number_taken"
    assert client.post("/api/products/PICK-1/numbers/13912340001/hold").status_code == 409


def test_the_picker_filters_pages_and_badges(app, make_product) -> None:
    product = make_product("PICK-2", stock_total=5, number_selectable=True)
    pool = [f"1391234{n:04d}" for n in range(45)] + ["13800008888", "13800001234", "13800001122"]
    db.session.add_all(PhoneNumber(product_id=product.id, msisdn=m) for m in pool)
    db.session.commit()
    client = app.test_client()
    first = client.get("/api/products/PICK-2/numbers").json
    assert (first["total"], first["pages"], len(first["numbers"])) == (48, 3, 20)
    third = client.get("/api/products/PICK-2/numbers?page=3").json
    assert len(third["numbers"]) == 8
    ends = client.get("/api/products/PICK-2/numbers?ends=8888").json["numbers"]
    assert ends == [{"msisdn": "13800008888", "tags": ["AAAA"], "held_by_you": False}]
    rows = client.get("/api/products/PICK-2/numbers?contains=0000").json["numbers"]
    tags = {row["msisdn"]: row["tags"] for row in rows}
    assert tags["13800001234"] == ["ABCD"] and tags["13800001122"] == ["AABB"]
    without_four = client.get("/api/products/PICK-2/numbers?no4=1").json
    assert without_four["total"] == 48 - sum("4" in m for m in pool)
    bad = client.get("/api/products/PICK-2/numbers?ends=abc")
    assert bad.status_code == 422 and "ends" in bad.json["fields"]


@pytest.mark.slow
@pytest.mark.gunicorn
def test_customers_racing_over_http_get_one_hold_and_one_sale(serve, app, picker_product) -> None:
    import concurrent.futures

    import requests

    server = serve(workers=3)
    url = f"{server.url}/api/products/PICK-1/numbers/13912345566/hold"
    barrier = threading.Barrier(8)

    def race(_: int) -> tuple[int, str]:
        with requests.Session() as browser:
            barrier.wait()
            response = browser.post(url, timeout=10)
            return response.status_code, response.json().get("hold_token", response.json().get("error"))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(race, range(8)))
    assert sorted(code for code, _ in results).count(200) == 1, results
    assert {body for code, body in results if code != 200} == {"number_taken"}
    winner = next(body for code, body in results if code == 200)
    loser_order = requests.post(
        f"{server.url}/api/orders",
        json=order_payload("PICK-1", 3, number="13912345566"),
        headers={"Idempotency-Key": "loser"},
        timeout=10,
    )
    assert loser_order.status_code == 409 and loser_order.json()["error"] == "number_taken"
    winner_order = requests.post(
        f"{server.url}/api/orders",
        json=order_payload("PICK-1", 4, number="13912345566", hold_token=winner),
        headers={"Idempotency-Key": "winner"},
        timeout=10,
    )
    assert winner_order.status_code == 201, winner_order.json()


def test_a_client_without_cookies_keeps_its_hold_with_the_token(app, picker_product) -> None:
    api = app.test_client(use_cookies=False)
    token = api.post("/api/products/PICK-1/numbers/13912340001/hold").json["hold_token"]
    mine = api.get("/api/products/PICK-1/numbers", headers={"X-Hold-Token": token}).json
    assert mine["held_by_you"] == "13912340001"
    again = api.post("/api/products/PICK-1/numbers/13912341234/hold", headers={"X-Hold-Token": token})
    assert again.json["hold_token"] == token
    assert "13912340001" in listed(app.test_client())  # the first hold went with the second
