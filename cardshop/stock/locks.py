"""Product locks (pottery Redlock) with a bounded wait, and fencing tokens (pottery NextID).

pottery's blocking acquire sleeps up to 200 ms between tries and, with many
contenders, splits the nodes' votes so that nobody wins. We try non-blocking
acquires until a deadline, sleeping in between until the holder lets go (it wakes one
waiter, see :class:`_Waiter`), and turn "not won in time" into :class:`Busy` and "a
majority of nodes unreachable" into :class:`StockUnavailable`, so a request never
hangs on a lock.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import redis
from pottery import NextID, QuorumIsImpossible, QuorumNotAchieved, Redlock, ReleaseUnlockedLock
from redis import RedisError

from .. import metrics
from ..errors import Busy, StockUnavailable
from .nodes import NodeSet
from .pool import call_node, suspect
from .pool import install as install_shared_pool

install_shared_pool()


BACKOFF_CAP = 8  # the pause between lock tries grows up to this many times LOCK_RETRY_MAX
HINT_DOUBT = 0.1  # seconds: a waiter tries the lock at least this often, whatever the hint says
POLITE_WAIT = 0.005  # seconds a process that woke another's waiter lets it take the lock first
MIN_BLOCK = 0.001  # shorter waits sleep instead of blocking on the node
WAKE_TTL_MS = 1000  # a wake-up nobody took, or a waiter that died, counts no longer than this


def lock_key(resource: str) -> str:
    return f"cardshop:{resource}"


def wake_key(resource: str) -> str:
    return f"cardshop:wake:{resource}"


def waiting_key(resource: str) -> str:
    return f"cardshop:waiting:{resource}"


def fence_key(resource: str) -> str:
    """The key pottery's NextID keeps the resource's token sequence under."""
    return f"{NextID._KEY_PREFIX}:cardshop:{resource}"


@dataclass
class Fence:
    """A held lock and the fencing token taken while holding it."""

    lock: Redlock
    resource: str
    token: int

    def held(self) -> bool:
        """Whether a majority of nodes still says this lock is ours."""
        try:
            return self.lock.locked() > 0
        except (QuorumIsImpossible, QuorumNotAchieved):
            return False


class LockManager:
    def __init__(self, nodes: NodeSet, *, ttl: float, wait: float, retry_max: float) -> None:
        self.nodes = nodes
        self.ttl = ttl
        self.wait = wait
        self.retry_max = retry_max
        self._sequences: dict[str, NextID] = {}
        self._woke: dict[str, float] = {}  # resource -> when this process last woke a waiter for it

    def acquire(self, resource: str, *, wait: float | None = None) -> Redlock:
        """Win the resource's Redlock on a majority of nodes within ``wait`` seconds."""
        lock = Redlock(
            key=lock_key(resource),
            masters=self.nodes.clients,
            auto_release_time=self.ttl,
            raise_on_redis_errors=True,
        )
        started = time.monotonic()
        deadline = started + (self.wait if wait is None else wait)
        waiter = _Waiter(self, resource, lock)
        # This process just woke another's waiter for this lock: let it win. Trying at
        # once would mostly win (this process is running, the other is waking up), and
        # the other process's orders would wait for lease after lease.
        polite = started - self._woke.pop(resource, -HINT_DOUBT) < HINT_DOUBT
        tried = started
        woken = False
        try:
            while True:
                # The hint can be wrong for a while: a node that was hung applies, once it
                # answers again, the lock writes it had queued, and one stale key there
                # would keep a waiter out for the key's lifetime. So a real attempt is made
                # at least every HINT_DOUBT seconds, whatever the hint says.
                now = time.monotonic()
                if not polite and (woken or now - tried >= HINT_DOUBT or not self._visibly_held(lock)):
                    tried = now
                    try:
                        if lock.acquire(blocking=False):
                            metrics.observe_lock_wait(time.monotonic() - started)
                            return lock
                    except QuorumIsImpossible as error:
                        metrics.count_lock_failure("quorum")
                        metrics.count_quorum_failure()
                        raise StockUnavailable() from error
                now = time.monotonic()
                if now >= deadline:
                    metrics.count_lock_failure("busy")
                    raise Busy()
                limit = POLITE_WAIT if polite else HINT_DOUBT - (now - tried)
                woken = waiter.wait(min(deadline - now, limit))
                polite = False
        finally:
            waiter.leave()

    def hand_over(self, resource: str, lock: Redlock) -> None:
        """After releasing ``lock``: wake one process that waits for it (see _Waiter)."""
        node = self.hint_node(lock)
        if node is None:
            return
        script = self.nodes.scripts["handoff"]
        try:
            waiting = call_node(
                node, script, keys=[wake_key(resource), waiting_key(resource)], args=[WAKE_TTL_MS], client=node
            ).result()
        except RedisError:
            return
        if int(waiting) > 0:
            self._woke[resource] = time.monotonic()

    def hint_node(self, lock: Redlock) -> redis.Redis | None:
        """The node that hints at the lock's state: the last healthy one in the order
        pottery takes and releases the nodes in (the same in every process), so once
        it shows the lock free, the last holder has released it everywhere."""
        for client in reversed(list(lock.masters)):
            if not suspect(client):
                return cast(redis.Redis, client)
        return None

    def _visibly_held(self, lock: Redlock) -> bool:
        """A hint, not the lock: whether the hint node shows the lock taken.

        A failed Redlock attempt costs two round trips to every node and, with several
        contenders trying at once, splits the votes; one EXISTS on one node tells a
        waiter to keep waiting for a fraction of that. Any doubt means "try"."""
        node = self.hint_node(lock)
        if node is None:
            return False
        try:
            return bool(call_node(node, node.exists, lock.key).result())
        except RedisError:
            return False

    def next_token(self, resource: str) -> int:
        sequence = self._sequences.get(resource)
        if sequence is None:
            sequence = self._sequences[resource] = NextID(
                key=f"cardshop:{resource}", masters=self.nodes.clients, raise_on_redis_errors=True
            )
        try:
            return int(next(sequence))
        except (QuorumIsImpossible, QuorumNotAchieved) as error:
            metrics.count_quorum_failure()
            raise StockUnavailable() from error

    def raise_floor(self, resource: str, floor: int) -> None:
        """Make the resource's next token exceed ``floor`` on every reachable node."""
        self.nodes.run_script("fence_floor", [fence_key(resource)], [floor])

    @contextlib.contextmanager
    def hold(self, resource: str, *, wait: float | None = None) -> Iterator[Fence]:
        """Hold the resource's lock with a fresh fencing token for the ``with`` body."""
        lock = self.acquire(resource, wait=wait)
        try:
            yield Fence(lock, resource, self.next_token(resource))
        finally:
            with contextlib.suppress(ReleaseUnlockedLock, QuorumIsImpossible, QuorumNotAchieved):
                lock.release()
            self.hand_over(resource, lock)


class _Waiter:
    """A process waiting for a lock sleeps until the holder releases it, not in a poll.

    While it waits it is counted on the hint node, and blocks there on the lock's wake
    list; a holder that releases the lock pushes one wake-up when anyone is counted
    (``LockManager.hand_over``), so exactly one waiter tries at once, the moment the
    lock is free: no polling crowd taking the CPU from the holder, no split votes, and
    no handover gap. All of it is a hint: without a hint node, or when a wake-up goes
    astray, the waiter falls back to short jittered pauses and a real try at least
    every HINT_DOUBT seconds; the lock itself is always the Redlock."""

    def __init__(self, manager: LockManager, resource: str, lock: Redlock) -> None:
        self.manager = manager
        self.resource = resource
        self.lock = lock
        self.counted_on: redis.Redis | None = None
        self.pause = manager.retry_max

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a wake-up; True when one came."""
        node = self.manager.hint_node(self.lock)
        if node is not None and node is not self.counted_on:
            self.leave()
        if node is None or timeout < MIN_BLOCK:
            self.sleep(timeout)
            return False
        # A blocked call must end well within the node's socket timeout, or a quiet
        # wait would read as a hung node.
        timeout = min(timeout, _socket_timeout(node) / 2)
        try:
            pipe = node.pipeline(transaction=False)
            if self.counted_on is None:
                pipe.incr(waiting_key(self.resource))
            pipe.pexpire(waiting_key(self.resource), WAKE_TTL_MS)
            pipe.blpop([wake_key(self.resource)], timeout=round(timeout, 3))
            replies = call_node(node, pipe.execute).result()  # a timeout makes the node suspect
        except RedisError:
            self.counted_on = None
            self.sleep(timeout)
            return False
        self.counted_on = node
        return replies[-1] is not None

    def sleep(self, timeout: float) -> None:
        # Jittered, and longer the longer we wait (up to 8x): a crowd of waiters
        # asking every 2 ms would take the CPU from the holder they wait for.
        time.sleep(max(0.0, min(timeout, random.uniform(self.pause / 2, self.pause))))  # noqa: S311 - jitter
        self.pause = min(self.pause * 2, self.manager.retry_max * BACKOFF_CAP)

    def leave(self) -> None:
        node, self.counted_on = self.counted_on, None
        if node is not None:
            script = self.manager.nodes.scripts["unwait"]
            with contextlib.suppress(RedisError):
                call_node(node, script, keys=[waiting_key(self.resource)], client=node).result()


def _socket_timeout(node: redis.Redis) -> float:
    return float(node.connection_pool.connection_kwargs.get("socket_timeout") or 1.0)
