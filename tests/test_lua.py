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
    status, avail, token, *outcomes = scripts[name](keys=keys, args=args, client=node)
    return (status.decode(), avail, token, *(o.decode() for o in outcomes))


def reserve(scripts, node, sku, token, orders):  # type: ignore[no-untyped-def]
    """reserve.lua for a batch of (order_key, qty)."""
    keys = [stock_key(sku), *(marker_key(sku, key) for key, _ in orders)]
    return run(scripts, "reserve", node, keys, [token, 60, *(qty for _, qty in orders)])


def test_reserve_takes_stock_and_records_the_token(scripts, node) -> None:
    node.hset(stock_key("A"), mapping={"avail": 5, "token": 3})
    assert reserve(scripts, node, "A", 4, [("o1", 2)]) == ("ok", 3, 4, "ok")
    assert node.hgetall(stock_key("A")) == {b"avail": b"3", b"token": b"4"}


def test_reserve_refuses_a_stale_token(scripts, node) -> None:
    node.hset(stock_key("A"), mapping={"avail": 5, "token": 9})
    assert reserve(scripts, node, "A", 8, [("o1", 1)])[0] == "stale"
    assert node.hget(stock_key("A"), "avail") == b"5"


def test_reserve_refuses_when_short(scripts, node) -> None:
    node.hset(stock_key("A"), mapping={"avail": 1, "token": 1})
    assert reserve(scripts, node, "A", 2, [("o1", 2)]) == ("ok", 1, 2, "short")
    assert node.hget(stock_key("A"), "avail") == b"1"


def test_reserve_applies_an_order_key_once(scripts, node) -> None:
    node.hset(stock_key("A"), mapping={"avail": 5, "token": 1})
    assert reserve(scripts, node, "A", 2, [("same", 1)]) == ("ok", 4, 2, "ok")
    assert reserve(scripts, node, "A", 3, [("same", 1)]) == ("ok", 4, 3, "dup")
    assert node.hget(stock_key("A"), "avail") == b"4"


def test_a_batch_is_decided_order_by_order(scripts, node) -> None:
    node.hset(stock_key("A"), mapping={"avail": 4, "token": 1})
    orders = [("a", 2), ("b", 3), ("c", 1), ("a", 1), ("d", 1)]
    assert reserve(scripts, node, "A", 2, orders) == ("ok", 0, 2, "ok", "short", "ok", "dup", "ok")
    assert node.get(marker_key("A", "b")) is None


def test_reserve_reports_a_missing_counter(scripts, node) -> None:
    assert reserve(scripts, node, "gone", 1, [("o", 1)])[0] == "missing"
    assert not node.exists(stock_key("gone"))


def test_unreserve_gives_back_once_and_respects_the_fence(scripts, node) -> None:
    node.hset(stock_key("A"), mapping={"avail": 5, "token": 1})
    reserve(scripts, node, "A", 2, [("o1", 3), ("o2", 1)])
    keys = [stock_key("A"), marker_key("A", "o1"), marker_key("A", "o2"), marker_key("A", "never")]
    assert run(scripts, "unreserve", node, keys, [1]) == ("stale", 1, 2)
    assert run(scripts, "unreserve", node, keys, [2]) == ("ok", 5, 2)
    assert run(scripts, "unreserve", node, keys, [2]) == ("ok", 5, 2)  # given back once only


def test_sync_overwrites_only_with_a_current_token(scripts, node) -> None:
    node.hset(stock_key("A"), mapping={"avail": 5, "token": 7})
    assert run(scripts, "sync", node, [stock_key("A")], [6, 100])[0] == "stale"
    assert run(scripts, "sync", node, [stock_key("A")], [7, 9]) == ("ok", 9, 7)
    assert run(scripts, "sync", node, [stock_key("new")], [1, 4]) == ("ok", 4, 1)
    node.set(marker_key("A", "old"), 1)
    assert run(scripts, "sync", node, [stock_key("A"), marker_key("A", "old")], [8, 3])[0] == "ok"
    assert node.get(marker_key("A", "old")) is None


def test_peek_reads_the_counter_and_the_marker(scripts, node) -> None:
    assert scripts["peek"](keys=[stock_key("A"), marker_key("A", "x")], args=[], client=node) == [-1, 0]
    node.hset(stock_key("A"), mapping={"avail": 3, "token": 1})
    node.set(marker_key("A", "x"), 1)
    assert scripts["peek"](keys=[stock_key("A"), marker_key("A", "x")], args=[], client=node) == [3, 1]


def test_fence_floor_only_raises(scripts, node) -> None:
    assert scripts["fence_floor"](keys=["seq"], args=[10], client=node) == 10
    assert scripts["fence_floor"](keys=["seq"], args=[3], client=node) == 10
    assert node.get("seq") == b"10"
