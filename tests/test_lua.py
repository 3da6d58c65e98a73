"""The stock scripts on a real Redis node: what each refuses, and applying once."""

from __future__ import annotations

import pytest
import redis

from cardshop.embedded import EmbeddedStack
from cardshop.stock.nodes import NodeSet, connect
from cardshop.stock.selling import lease_keys, seen_key
from cardshop.stock.service import marker_key, stock_key
from cardshop.stock.soldout import SeenKeys, as_version, seen_bits


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
    keys = [stock_key(sku), seen_key(sku), *(marker_key(sku, key) for key, _ in orders)]
    return run(scripts, "reserve", node, keys, [token, 60, *(qty for _, qty in orders)])


def raising(sku: str, *markers: str) -> list[str]:
    """The keys of sync.lua and unreserve.lua: counter, lease, rising flag, markers."""
    return [stock_key(sku), *lease_keys(sku), *(marker_key(sku, m) for m in markers)]


def peek(scripts, node, sku, order_key, lease_ms=0):  # type: ignore[no-untyped-def]
    keys = [stock_key(sku), marker_key(sku, order_key), *lease_keys(sku)]
    return scripts["peek"](keys=keys, args=[lease_ms], client=node)


def test_reserve_takes_stock_and_records_the_token(scripts, node) -> None:
    node.hset(stock_key("A"), mapping={"avail": 5, "token": 3})
    assert reserve(scripts, node, "A", 4, [("o1", 2)]) == ("ok", 3, 4, "ok")
    assert node.hgetall(stock_key("A")) == {b"avail": b"3", b"token": b"4", b"applied": b"1"}


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
    assert reserve(scripts, node, "A", 3, [("a", 1), ("e", 1)]) == ("ok", 0, 3, "dup", "short")  # nothing left
    assert node.hget(stock_key("A"), "applied") == b"3"


def test_reserve_reports_a_missing_counter(scripts, node) -> None:
    assert reserve(scripts, node, "gone", 1, [("o", 1)])[0] == "missing"
    assert not node.exists(stock_key("gone"))


def test_unreserve_gives_back_once_and_respects_the_fence(scripts, node) -> None:
    node.hset(stock_key("A"), mapping={"avail": 5, "token": 1})
    reserve(scripts, node, "A", 2, [("o1", 3), ("o2", 1)])
    keys = raising("A", "o1", "o2", "never")
    assert run(scripts, "unreserve", node, keys, [1]) == ("stale", 1, 2)
    assert run(scripts, "unreserve", node, keys, [2]) == ("ok", 5, 2)
    assert run(scripts, "unreserve", node, keys, [2]) == ("ok", 5, 2)  # given back once only


def test_sync_overwrites_only_with_a_current_token(scripts, node) -> None:
    node.hset(stock_key("A"), mapping={"avail": 5, "token": 7})
    assert run(scripts, "sync", node, raising("A"), [6, 100, "e1"])[0] == "stale"
    assert run(scripts, "sync", node, raising("A"), [7, 9, "e2"]) == ("ok", 9, 7)
    assert node.hget(stock_key("A"), "epoch") == b"e2"
    assert run(scripts, "sync", node, raising("new"), [1, 4, "e3"]) == ("ok", 4, 1)
    node.set(marker_key("A", "old"), 1)
    assert run(scripts, "sync", node, raising("A", "old"), [8, 3, "e4"])[0] == "ok"
    assert node.get(marker_key("A", "old")) is None


def test_peek_reads_the_counter_the_marker_and_the_filter_version(scripts, node) -> None:
    assert peek(scripts, node, "A", "x") == [-1, 0, 0, b"", 0]
    node.hset(stock_key("A"), mapping={"avail": 3, "token": 1, "applied": 7, "epoch": "e"})
    node.set(marker_key("A", "x"), 1)
    assert peek(scripts, node, "A", "x", lease_ms=50) == [3, 1, 7, b"e", 0]  # something left: no lease
    assert not node.exists(lease_keys("A")[0])


def test_peek_grants_a_lease_only_where_nothing_is_left_and_nothing_is_rising(scripts, node) -> None:
    lease, rising = lease_keys("A")
    node.hset(stock_key("A"), mapping={"avail": 0, "token": 1})
    assert peek(scripts, node, "A", "x")[4] == 0  # no lease asked for
    assert peek(scripts, node, "A", "x", lease_ms=5000)[4] == 1
    assert 4000 < node.pttl(lease) <= 5000
    assert peek(scripts, node, "A", "x", lease_ms=50)[4] == 1
    assert node.pttl(lease) > 4000  # a shorter lease never shortens another's
    node.delete(lease)
    node.set(rising, 1)
    assert peek(scripts, node, "A", "x", lease_ms=5000)[4] == 0
    assert not node.exists(lease)


def test_a_lease_holds_back_every_raise_and_raises_the_rising_flag(scripts, node) -> None:
    lease, rising = lease_keys("A")
    node.hset(stock_key("A"), mapping={"avail": 1, "token": 1})
    reserve(scripts, node, "A", 2, [("o1", 1)])
    peek(scripts, node, "A", "x", lease_ms=5000)
    status, avail, token, left = scripts["unreserve"](keys=raising("A", "o1"), args=[2], client=node)
    assert (status, avail, token) == (b"leased", 0, 2) and 4000 < left <= 5000
    assert node.exists(marker_key("A", "o1")) and node.pttl(rising) > left
    status, avail, token, left = scripts["sync"](keys=raising("A"), args=[3, 4, "e"], client=node)
    assert (status, avail) == (b"leased", 0) and node.hget(stock_key("A"), "avail") == b"0"
    assert run(scripts, "sync", node, raising("A"), [3, 0, "e"]) == ("ok", 0, 3)  # writing 0 raises nothing
    assert run(scripts, "unreserve", node, raising("A", "never"), [3]) == ("ok", 0, 3)  # nothing to give back
    node.delete(lease)
    assert run(scripts, "unreserve", node, raising("A", "o1"), [3]) == ("ok", 1, 3)
    assert run(scripts, "sync", node, raising("A"), [3, 4, "e"]) == ("ok", 4, 3)


def test_the_seen_keys_filter_holds_every_applied_key(scripts, node) -> None:
    node.hset(stock_key("A"), mapping={"avail": 100, "token": 1, "epoch": "e"})
    keys = [f"order-{n}" for n in range(40)]
    reserve(scripts, node, "A", 2, [(key, 1) for key in keys[:20]])
    reserve(scripts, node, "A", 2, [("order-0", 1), ("too-many", 500)])  # a dup and a short: nothing applied
    applied, epoch, bitmap = scripts["seen"](keys=[stock_key("A"), seen_key("A")], args=[], client=node)
    seen = SeenKeys(as_version(applied, epoch), bytes(bitmap))
    assert seen.version == (20, "e")
    assert all(seen.may_hold(seen_bits(marker_key("A", key))) for key in keys[:20])
    assert not any(seen.may_hold(seen_bits(marker_key("A", key))) for key in [*keys[20:], "too-many"])
    assert 0 < node.ttl(seen_key("A")) <= 60  # as long as the newest marker
    assert SeenKeys((0, ""), b"").may_hold(seen_bits(marker_key("A", "order-1"))) is False


def test_fence_floor_only_raises(scripts, node) -> None:
    assert scripts["fence_floor"](keys=["seq"], args=[10], client=node) == 10
    assert scripts["fence_floor"](keys=["seq"], args=[3], client=node) == 10
    assert node.get("seq") == b"10"
