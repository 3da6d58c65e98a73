"""Product locks (pottery Redlock) with a bounded wait, and fencing tokens (pottery NextID).

pottery's blocking acquire sleeps up to 200 ms between tries and, with many
contenders, splits the nodes' votes so that nobody wins. We try non-blocking
acquires in a loop with short jittered pauses until a deadline, and turn "not won in
time" into :class:`Busy` and "a majority of nodes unreachable" into
:class:`StockUnavailable`, so a request never hangs on a lock.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from pottery import NextID, QuorumIsImpossible, QuorumNotAchieved, Redlock, ReleaseUnlockedLock
from redis import RedisError

from .. import metrics
from ..errors import Busy, StockUnavailable
from .nodes import NodeSet
from .pool import install as install_shared_pool
from .pool import suspect

install_shared_pool()


BACKOFF_CAP = 8  # the pause between lock tries grows up to this many times LOCK_RETRY_MAX
HINT_DOUBT = 0.1  # seconds: a waiter tries the lock at least this often, whatever the hint says


def lock_key(resource: str) -> str:
    return f"cardshop:{resource}"


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
        pause = self.retry_max
        tried = started
        while True:
            # The hint can be wrong for a while: a node that was hung applies, once it
            # answers again, the lock writes it had queued, and one stale key there
            # would keep a waiter out for the key's lifetime. So a real attempt is made
            # at least every HINT_DOUBT seconds, whatever the hint says.
            if time.monotonic() - tried >= HINT_DOUBT or not self._visibly_held(lock):
                tried = time.monotonic()
                try:
                    if lock.acquire(blocking=False):
                        metrics.observe_lock_wait(time.monotonic() - started)
                        return lock
                except QuorumIsImpossible as error:
                    metrics.count_lock_failure("quorum")
                    metrics.count_quorum_failure()
                    raise StockUnavailable() from error
            if time.monotonic() >= deadline:
                metrics.count_lock_failure("busy")
                raise Busy()
            # Jittered, and longer the longer we wait (up to 8x): a crowd of waiters
            # asking every 2 ms would take the CPU from the holder they wait for.
            time.sleep(random.uniform(pause / 2, pause))  # noqa: S311 - jitter, not secrets
            pause = min(pause * 2, self.retry_max * BACKOFF_CAP)

    def _visibly_held(self, lock: Redlock) -> bool:
        """A hint, not the lock: whether one healthy node shows the lock taken.

        A failed Redlock attempt costs two round trips to every node and, with several
        contenders trying at once, splits the votes; one EXISTS on one node tells a
        waiter to keep waiting for a fraction of that. pottery takes and releases the
        nodes in one order (the same in every process), so the node asked is the last
        healthy one in it: once that shows the lock free, the last holder has released
        it everywhere. Any doubt means "try"."""
        key = lock.key
        for client in reversed(list(lock.masters)):
            if not suspect(client):
                try:
                    return bool(client.exists(key))
                except RedisError:
                    return False
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
