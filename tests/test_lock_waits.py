"""Waiting for a product lock: a waiter sleeps on the nodes until the holder lets go,
and a process that has just woken another's waiter lets it take the lock first."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from pottery import NextID, Redlock, ReleaseUnlockedLock

from cardshop.embedded import EmbeddedStack
from cardshop.errors import Busy, StockUnavailable
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

    holder.let_go("stock:W", lock)  # the release itself wakes the waiter
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
    first.let_go("stock:P", lock)
    with first.hold("stock:P"):  # it could win at once: the waiter is only waking up
        turns.append("first")
    thread.join(3.0)
    assert turns == ["second", "first"]
    assert hint.get(waiting_key("stock:P")) is None


# pottery's Redlock and NextID with their steps sent to all nodes at once: the same keys,
# values and quorum rules as pottery's own, so either can be used against the other.


def test_a_lock_taken_on_all_nodes_at_once_is_pottery_s_lock(managers) -> None:
    manager = managers[0]
    clients = manager.nodes.clients
    lock = manager.acquire("stock:P")
    assert [client.get(lock.key) for client in clients] == [lock._uuid.encode()] * 3
    assert all(0 < client.pttl(lock.key) <= 10_000 for client in clients)
    plain = Redlock(key=locks.lock_key("stock:P"), masters=clients, auto_release_time=10.0)
    assert plain.acquire(blocking=False) is False  # pottery's own lock sees it held
    assert lock.locked() > 0
    lock.release()
    assert [client.exists(lock.key) for client in clients] == [0, 0, 0]
    assert plain.acquire(blocking=False) is True
    with pytest.raises(Busy):
        manager.acquire("stock:P", wait=0.05)  # and ours sees pottery's
    plain.release()


def test_a_lock_needs_a_majority_of_nodes(nodes: EmbeddedStack, managers) -> None:
    manager = managers[0]
    nodes.nodes[0].stop()
    lock = manager.acquire("stock:Q")  # two of three
    lock.release()
    nodes.nodes[1].stop()
    with pytest.raises(StockUnavailable):
        manager.acquire("stock:Q", wait=0.2)
    nodes.nodes[0].restart()
    nodes.nodes[1].restart()


def test_release_of_a_lock_that_expired_says_so(managers) -> None:
    manager = managers[0]
    lock = manager.acquire("stock:R")
    for client in manager.nodes.clients:
        client.delete(lock.key)  # as if its lifetime ran out
    with pytest.raises(ReleaseUnlockedLock):
        lock.release()


def test_tokens_go_up_across_both_implementations_and_a_node_that_forgot(nodes: EmbeddedStack, managers) -> None:
    ours, other = managers
    plain = NextID(key="cardshop:stock:T", masters=other.nodes.clients, raise_on_redis_errors=True)
    seen = [ours.next_token("stock:T"), next(plain), ours.next_token("stock:T"), next(plain)]
    assert seen == sorted(seen) and len(set(seen)) == 4
    ours.nodes.clients[2].delete(locks.fence_key("stock:T"))  # one node restarted empty
    seen.append(ours.next_token("stock:T"))
    assert seen[-1] > seen[-2]
    nodes.nodes[0].stop()
    nodes.nodes[1].stop()
    with pytest.raises(StockUnavailable):
        ours.next_token("stock:T")
    nodes.nodes[0].restart()
    nodes.nodes[1].restart()


def test_each_step_is_one_send_to_all_nodes(managers, monkeypatch) -> None:
    """pottery's own methods call the nodes one by one; if an upgrade renamed what
    NodeRedlock and NodeNextID override, these counts would drop to zero."""
    manager = managers[0]
    names = {script.sha: name for name, script in manager.nodes.scripts.items()}
    sent: list[str] = []
    send_all = manager.nodes.send_all

    def counted(command, *args, **options):  # type: ignore[no-untyped-def]
        sent.append(names.get(command[1], "pottery's set-id") if command[0] == "EVALSHA" else command[0])
        return send_all(command, *args, **options)

    monkeypatch.setattr(manager.nodes, "send_all", counted)
    with manager.hold("stock:S") as fence:
        assert fence.token > 0
    # take the lock and read the sequence, move the sequence on, let go and wake a waiter
    assert sent == ["take", "pottery's set-id", "release"]


def test_a_lock_won_at_the_first_try_is_tried_at_once_next_time(managers, monkeypatch) -> None:
    first, second = managers
    looks: list[str] = []
    original = LockManager._visibly_held

    def counted(self: LockManager, lock: Redlock) -> bool:
        looks.append(lock.key)
        return original(self, lock)

    monkeypatch.setattr(LockManager, "_visibly_held", counted)
    for _ in range(3):  # nobody else wants it: no look before the try
        with first.hold("stock:F"):
            pass
    assert looks == []

    lock = second.acquire("stock:F")
    won: list[object] = []

    def wait_for_it() -> None:
        won.append(first.acquire("stock:F", wait=8.0))

    thread = threading.Thread(target=wait_for_it)
    thread.start()
    until(lambda: second.hint_node(lock).get(waiting_key("stock:F")) == b"1")  # type: ignore[union-attr]
    second.let_go("stock:F", lock)
    thread.join(3.0)
    first.let_go("stock:F", won[0])  # type: ignore[arg-type]
    looks.clear()
    with first.hold("stock:F"):  # it had to wait last time: it looks first
        pass
    assert looks == [lock.key]
    looks.clear()
    with first.hold("stock:F"):  # and won at once: no look again
        pass
    assert looks == []


def test_a_hold_reads_the_sequence_as_it_takes_the_lock_and_its_token_still_goes_up(nodes, managers) -> None:
    ours, other = managers
    plain = NextID(key="cardshop:stock:N", masters=other.nodes.clients, raise_on_redis_errors=True)
    seen = []
    for _ in range(2):
        with ours.hold("stock:N") as fence:
            seen.append(fence.token)
        seen.append(next(plain))  # pottery's own NextID, between two holds
    assert seen == sorted(seen) and len(set(seen)) == 4
    assert [int(client.get(locks.fence_key("stock:N"))) for client in ours.nodes.clients] == [seen[-1]] * 3

    lock = ours.acquire("stock:N")
    assert lock.sequence_seen == seen[-1]
    moved = next(plain)  # the sequence moves on after the read: the write is refused...
    token = ours.next_token("stock:N", seen=lock.sequence_seen)
    assert token > moved  # ...and the token is drawn again, above it
    ours.let_go("stock:N", lock)

    ours.nodes.clients[2].delete(locks.fence_key("stock:N"))  # one node restarted empty
    with ours.hold("stock:N") as fence:
        assert fence.token > token
    nodes.nodes[0].stop()
    with ours.hold("stock:N") as fence:  # two of three: read and written on a majority
        assert fence.token > token + 1
    nodes.nodes[0].restart()


def test_a_release_that_finds_the_lock_gone_still_wakes_the_waiter(managers, monkeypatch) -> None:
    monkeypatch.setattr(locks, "HINT_DOUBT", 6.0)  # only a wake-up ends the wait early
    holder, waiter = managers
    lock = holder.acquire("stock:G")
    hint = holder.hint_node(lock)
    assert hint is not None
    won: list[object] = []
    thread = threading.Thread(target=lambda: won.append(waiter.acquire("stock:G", wait=8.0)))
    thread.start()
    until(lambda: hint.get(waiting_key("stock:G")) == b"1")
    for client in holder.nodes.clients:
        client.delete(lock.key)  # as if its lifetime ran out: the release deletes nothing
    holder.let_go("stock:G", lock)
    thread.join(3.0)
    assert len(won) == 1, "the waiter was not woken"
    waiter.let_go("stock:G", won[0])  # type: ignore[arg-type]
