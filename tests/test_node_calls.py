"""How a script reaches the three nodes: all healthy nodes are sent it before any reply
is read, a majority read asks a majority first, and every node's failure stays that
node's reply."""

from __future__ import annotations

import time

import pytest
import redis

from cardshop.embedded import EmbeddedStack
from cardshop.stock.nodes import NodeSet, NodeTimeout, Reply, connect
from cardshop.stock.service import marker_key, stock_key

SOCKET_TIMEOUT = 0.3


@pytest.fixture
def node_set(nodes: EmbeddedStack):  # type: ignore[no-untyped-def]
    node_set = NodeSet(connect(nodes.urls, socket_timeout=SOCKET_TIMEOUT, connect_timeout=0.3), wait=1.0)
    yield node_set
    node_set.close()


def peek(node_set: NodeSet, sku: str, **options) -> list[Reply]:  # type: ignore[no-untyped-def]
    return node_set.run_script("peek", [stock_key(sku), marker_key(sku, "k")], [], **options)


def same_count(replies: list[Reply]) -> bool:
    counts = [int(r.value[0]) for r in replies if r.ok]
    return any(counts.count(value) >= 2 for value in counts)


def test_every_node_answers_a_script(node_set: NodeSet) -> None:
    for number, client in enumerate(node_set.clients):
        client.hset(stock_key("A"), mapping={"avail": 10 + number, "token": 1})
    assert [int(reply.value[0]) for reply in peek(node_set, "A")] == [10, 11, 12]


def test_a_node_that_lost_its_scripts_is_sent_the_script_again(node_set: NodeSet) -> None:
    node_set.clients[1].script_flush()  # as after a restart with nothing on disk
    replies = peek(node_set, "A")
    assert all(reply.ok for reply in replies)
    assert node_set.clients[1].script_exists(node_set.scripts["peek"].sha) == [True]


def test_a_majority_read_asks_a_third_node_only_when_two_disagree(node_set: NodeSet) -> None:
    for client in node_set.clients:
        client.hset(stock_key("A"), mapping={"avail": 5, "token": 1})
    for _ in range(3):  # every read starts at another node
        replies = peek(node_set, "A", decided=same_count, read=True)
        assert sum(reply.ok for reply in replies) == 2
        assert sum(isinstance(reply.error, NodeTimeout) for reply in replies) == 1

    node_set.clients[0].hset(stock_key("A"), "avail", 0)  # one node lags
    for _ in range(3):
        replies = peek(node_set, "A", decided=same_count, read=True)
        counts = sorted(int(reply.value[0]) for reply in replies if reply.ok)
        assert counts.count(5) == 2, counts  # whichever pair came first, the majority decides


def test_a_down_node_is_its_own_error_and_the_others_answer(node_set: NodeSet, nodes: EmbeddedStack) -> None:
    nodes.nodes[2].kill()
    replies = peek(node_set, "A")
    assert [reply.ok for reply in replies] == [True, True, False]
    assert isinstance(replies[2].error, redis.ConnectionError)


def test_a_hung_node_costs_one_socket_timeout_then_is_left_behind(node_set: NodeSet, nodes: EmbeddedStack) -> None:
    def two_answered(replies: list[Reply]) -> bool:
        return sum(reply.ok for reply in replies) >= 2

    peek(node_set, "A")  # connections open before the node hangs
    nodes.nodes[0].pause()
    try:
        began = time.monotonic()
        first = peek(node_set, "A", decided=two_answered)
        first_took = time.monotonic() - began
        began = time.monotonic()
        second = peek(node_set, "A", decided=two_answered)
        second_took = time.monotonic() - began
    finally:
        nodes.nodes[0].resume()
    assert [reply.ok for reply in first] == [False, True, True]
    assert isinstance(first[0].error, redis.TimeoutError)
    assert SOCKET_TIMEOUT * 0.9 <= first_took < SOCKET_TIMEOUT + 0.2
    assert [reply.ok for reply in second] == [False, True, True]
    assert second_took < 0.1  # the suspect node is called on the pool and not waited for


def test_a_pooled_connection_with_an_unread_reply_is_made_again(node_set: NodeSet) -> None:
    client = node_set.clients[0]
    client.set("k", "v")
    connection = client.connection_pool.get_connection()
    connection.send_command("GET", "other")  # a reply nobody reads
    time.sleep(0.05)
    client.connection_pool.release(connection)
    assert client.get("k") == b"v"  # not the stale reply to GET other
    assert [int(reply.value[0]) for reply in peek(node_set, "missing")] == [-1, -1, -1]


def test_pooled_connections_the_server_closed_are_made_again(node_set: NodeSet) -> None:
    for client in node_set.clients:
        client.ping()
        client.set("k", "v")
    for client in node_set.clients:
        assert client.client_kill_filter(_type="normal", skipme=False) >= 1
    time.sleep(0.05)
    assert all(reply.ok for reply in peek(node_set, "A"))
    assert [client.get("k") for client in node_set.clients] == [b"v"] * 3
