"""Waiting for a product lock: a waiter sleeps on the nodes until the holder lets go,
and a process that has just woken another's waiter lets it take the lock first."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from cardshop.embedded import EmbeddedStack
from cardshop.stock import locks
from cardshop.stock.locks import LockManager, waiting_key
from cardshop.stock.nodes import NodeSet, connect


@pytest.fixture
def managers(nodes: EmbeddedStack) -> Iterator[tuple[LockManager, LockManager]]:
    """Two lock managers with clients of their own, as two processes have. The long
    socket timeout lets a waiter block for seconds on one call: only a wake-up ends
    its wait early."""
    sets = [NodeSet(connect(nodes.urls, socket_timeout=10, connect_timeout=1), wait=10) for _ in range(2)]
    yield (
        LockManager(sets[0], ttl=10.0, wait=8.0, retry_max=0.002),
        LockManager(sets[1], ttl=10.0, wait=8.0, retry_max=0.002),
    )
    for node_set in sets:
        node_set.close()


def until(condition: Callable[[], bool], seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def test_a_waiter_is_woken_when_the_holder_lets_go(managers, monkeypatch) -> None:
    monkeypatch.setattr(locks, "HINT_DOUBT", 6.0)  # no second look for seconds without a wake-up
    holder, waiter = managers
    lock = holder.acquire("stock:W")
    hint = holder.hint_node(lock)
    assert hint is not None
    won: list[object] = []
    thread = threading.Thread(target=lambda: won.append(waiter.acquire("stock:W", wait=8.0)))
    thread.start()
    until(lambda: hint.get(waiting_key("stock:W")) == b"1")  # counted while it waits
    time.sleep(0.2)
    assert won == []

    lock.release()
    holder.hand_over("stock:W", lock)
    thread.join(3.0)
    assert len(won) == 1, "the waiter was not woken"
    assert hint.get(waiting_key("stock:W")) is None  # and no longer counted
    won[0].release()  # type: ignore[attr-defined]


def test_who_let_go_lets_the_woken_waiter_win(managers, monkeypatch) -> None:
    monkeypatch.setattr(locks, "POLITE_WAIT", 3.0)  # however slow the waiter is to wake
    first, second = managers
    turns: list[str] = []
    lock = first.acquire("stock:P")
    hint = first.hint_node(lock)
    assert hint is not None

    def other() -> None:
        with second.hold("stock:P"):
            turns.append("second")

    thread = threading.Thread(target=other)
    thread.start()
    until(lambda: hint.get(waiting_key("stock:P")) == b"1")
    lock.release()
    first.hand_over("stock:P", lock)
    with first.hold("stock:P"):  # it could win at once: the waiter is only waking up
        turns.append("first")
    thread.join(3.0)
    assert turns == ["second", "first"]
    assert hint.get(waiting_key("stock:P")) is None
