"""The stock scripts on a real Redis node: what each refuses, and applying once."""

from __future__ import annotations

import pytest
import redis

from cardshop.embedded import EmbeddedStack
from cardshop.stock.nodes import NodeSet, connect
from cardshop.stock.service import marker_key, stock_key


@pytest.fixture
def node(nodes: EmbeddedStack) -> redis.Redis:
    return redis.Redis.from_url(nodes.urls[0])


@pytest.fixture
def scripts(nodes: EmbeddedStack):  # type: ignore[no-untyped-def]
    node_set = NodeSet(connect(nodes.urls, socket_timeout=1, connect_timeout=1), wait=2)
    yield node_set.scripts
    node_set.close()


def run(scripts, name, node, keys, args):  # type: ignore[no-untyped-def]
    status, avail, token = scripts[name](keys=keys, args=args, client=node)
    return status.decode(), avail, token


def test_reserve_takes_stock_and_records_the_token(scripts, node) -> None:
    node.hset(stock_key("A"), mapping={"avail": 5, "token": 3})
    assert run(scripts, "reserve", node, [stock_key("A"), marker_key("A", "o1")], [4, 2, 60]) == ("ok", 3, 4)
    assert node.hgetall(stock_key("A")) == {b"avail": b"3", b"token": b"4"}


def test_reserve_refuses_a_stale_token(scripts, node) -> None:
    node.hset(stock_key("A"), mapping={"avail": 5, "token": 9})
    assert run(scripts, "reserve", node, [stock_key("A"), marker_key("A", "o1")], [8, 1, 60])[0] == "stale"
    assert node.hget(stock_key("A"), "avail") == b"5"


def test_reserve_refuses_when_short(scripts, node) -> None:
    node.hset(stock_key("A"), mapping={"avail": 1, "token": 1})
    assert run(scripts, "reserve", node, [stock_key("A"), marker_key("A", "o1")], [2, 2, 60]) == ("short", 1, 1)
    assert node.hget(stock_key("A"), "avail") == b"1"


def test_reserve_applies_an_order_key_once(scripts, node) -> None:
    node.hset(stock_key("A"), mapping={"avail": 5, "token": 1})
    keys = [stock_key("A"), marker_key("A", "same")]
    assert run(scripts, "reserve", node, keys, [2, 1, 60])[0] == "ok"
    assert run(scripts, "reserve", node, keys, [3, 1, 60]) == ("dup", 4, 2)
    assert node.hget(stock_key("A"), "avail") == b"4"


def test_reserve_reports_a_missing_counter(scripts, node) -> None:
    assert run(scripts, "reserve", node, [stock_key("gone"), marker_key("gone", "o")], [1, 1, 60])[0] == "missing"
    assert not node.exists(stock_key("gone"))


def test_unreserve_gives_back_once_and_respects_the_fence(scripts, node) -> None:
    node.hset(stock_key("A"), mapping={"avail": 5, "token": 1})
    keys = [stock_key("A"), marker_key("A", "o1")]
    run(scripts, "reserve", node, keys, [2, 3, 60])
    assert run(scripts, "unreserve", node, keys, [1]) == ("stale", 2, 2)
    assert run(scripts, "unreserve", node, keys, [2]) == ("ok", 5, 2)
    assert run(scripts, "unreserve", node, keys, [2]) == ("noop", 5, 2)


def test_sync_overwrites_only_with_a_current_token(scripts, node) -> None:
    node.hset(stock_key("A"), mapping={"avail": 5, "token": 7})
    assert run(scripts, "sync", node, [stock_key("A")], [6, 100])[0] == "stale"
    assert run(scripts, "sync", node, [stock_key("A")], [7, 9]) == ("ok", 9, 7)
    assert run(scripts, "sync", node, [stock_key("new")], [1, 4]) == ("ok", 4, 1)


def test_fence_floor_only_raises(scripts, node) -> None:
    assert scripts["fence_floor"](keys=["seq"], args=[10], client=node) == 10
    assert scripts["fence_floor"](keys=["seq"], args=[3], client=node) == 10
    assert node.get("seq") == b"10"
