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
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import redis
from pottery import NextID, QuorumIsImpossible, QuorumNotAchieved, Redlock, ReleaseUnlockedLock
from redis import RedisError
from redis.commands.core import Script

from .. import metrics
from ..errors import Busy, StockUnavailable
from .nodes import NodeSet, Reply, script_command
from .pool import call_node, suspect
from .pool import install as install_shared_pool

install_shared_pool()


BACKOFF_CAP = 8  # the pause between lock tries grows up to this many times LOCK_RETRY_MAX
HINT_DOUBT = 0.1  # seconds: a waiter tries the lock at least this often, whatever the hint says
POLITE_WAIT = 0.005  # seconds a process that woke another's waiter lets it take the lock first
MIN_BLOCK = 0.001  # shorter waits sleep instead of blocking on the node
WAKE_TTL_MS = 1000  # a wake-up nobody took, or a waiter that died, counts no longer than this


class NodeRedlock(Redlock):
    """pottery's Redlock, sending each step to the nodes all at once.

    pottery calls the nodes one after another (through its executor, see pool.py):
    taking and releasing a lock cost three round trips each, and under load every round
    trip also waits its turn for the GIL, inside the handover that a hot product's
    sales queue behind. Here the same commands go to every healthy node before any
    reply is read (:meth:`NodeSet.send_all`): SET NX PX with pottery's key, value and
    lifetime to take it, the compare-and-delete of pottery's release script to let go.
    What counts as won (a majority, with time left after pottery's clock drift
    allowance), the release on failure and the errors raised are pottery's. Taking the
    lock also reads the resource's token sequence, and letting go wakes a waiting
    process, each in the same call (take.lua, release.lua). Everything else
    (``locked``, ``extend``, the context manager) is pottery's unchanged."""

    __slots__ = ("nodes", "resource", "sequence_seen", "woke")

    def __init__(self, *, nodes: NodeSet, resource: str, **options: Any) -> None:
        super().__init__(key=lock_key(resource), masters=nodes.clients, **options)
        self.nodes = nodes
        self.resource = resource
        self.woke = False
        self.sequence_seen: int | None = None

    def _acquire_masters(self, *, raise_on_redis_errors: bool | None = None) -> bool:
        """pottery's SET NX PX on every node at once, each reading the resource's token
        sequence in the same call (take.lua): once won, ``sequence_seen`` is the largest
        value of the nodes that answered, a majority, which is what NextID's read step
        would have found (see :meth:`LockManager.next_token`)."""
        self._uuid = str(uuid.uuid4())
        self._extension_num = 0
        self.sequence_seen = None
        started = time.monotonic()
        script = self.nodes.scripts["take"]
        keys = [self.key, fence_key(self.resource)]
        args = [self._uuid, int(self.auto_release_time * 1000)]
        won = _majority(self.nodes, lambda reply: int(reply.value[0]) == 1)
        replies = self.nodes.send_all(
            ("EVALSHA", script.sha, len(keys), *keys, *args),  # type: ignore[attr-defined]
            lambda client: script(keys=keys, args=args, client=client),
            decided=won,
        )
        if won(replies):
            validity = self.auto_release_time - self._Redlock__drift() - (time.monotonic() - started)  # type: ignore[attr-defined]
            if validity > 0:
                self.sequence_seen = max(int(reply.value[1]) for reply in replies if reply.ok)
                return True
        with contextlib.suppress(ReleaseUnlockedLock):
            self.release(raise_on_redis_errors=raise_on_redis_errors)
        self._check_enough_masters_up(raise_on_redis_errors, _errors(replies))
        return False

    _Redlock__acquire_masters = _acquire_masters

    def release(self, *, raise_on_redis_errors: bool | None = None) -> None:
        """pottery's release, and the wake-up of a waiting process in the same call
        (release.lua: pottery's release script, then a push to the wake list where
        anyone waits). ``woke`` tells whether some node had a waiter to wake."""
        released = _majority(self.nodes, lambda reply: bool(reply.value[0]))
        replies = self.nodes.run_script(
            "release", release_keys(self, self.resource), [self._uuid, WAKE_TTL_MS, 0], decided=released
        )
        self.woke = any(reply.ok and int(reply.value[1]) > 0 for reply in replies)
        if released(replies):
            return
        self._check_enough_masters_up(raise_on_redis_errors, _errors(replies))
        raise ReleaseUnlockedLock(self.key, self.masters, redis_errors=_errors(replies))

    _Redlock__release = release


class NodeNextID(NextID):
    """pottery's NextID, sending each of its two steps to the nodes all at once.

    The algorithm is pottery's: read the sequence on the nodes and take the largest of
    a majority's answers, then set it one higher with pottery's set-if-greater script,
    which a majority must apply. pottery makes each step one round trip per node, one
    after another (six for a token); here each step is one round trip to all of them
    (:meth:`NodeSet.send_all`)."""

    __slots__ = ("nodes",)

    def __init__(self, *, nodes: NodeSet, **options: Any) -> None:
        super().__init__(masters=nodes.clients, **options)
        self.nodes = nodes

    def _read(self) -> int:
        key = self.key
        agreed = _majority(self.nodes, lambda reply: True)
        replies = self.nodes.send_all(("GET", key), lambda client: client.get(key), decided=agreed)
        if agreed(replies):
            return max(int(reply.value or b"0") for reply in replies if reply.ok)
        self._check_enough_masters_up(None, _errors(replies))
        raise QuorumNotAchieved(key, self.masters, redis_errors=_errors(replies))

    def write(self, value: int) -> None:
        """NextID's write step: set the sequence to ``value`` where it is lower; raises
        QuorumNotAchieved unless a majority applied it."""
        applied = _majority(self.nodes, lambda reply: reply.value == value)
        replies = self.nodes.run_script(cast(Script, self._set_id_script), [self.key], [value], decided=applied)
        if applied(replies):
            return
        self._check_enough_masters_up(None, _errors(replies))
        raise QuorumNotAchieved(self.key, self.masters, redis_errors=_errors(replies))

    _NextID__current_id = property(_read, write)


def _majority(nodes: NodeSet, accepted: Callable[[Reply], bool]) -> Callable[[list[Reply]], bool]:
    """A fan-out's ``decided``: a majority of the nodes gave a reply that is ``accepted``."""
    return lambda replies: sum(1 for reply in replies if reply.ok and accepted(reply)) >= nodes.quorum


def _errors(replies: list[Reply]) -> list[RedisError]:
    return [reply.error for reply in replies if isinstance(reply.error, RedisError)]


def lock_key(resource: str) -> str:
    return f"cardshop:{resource}"


def wake_key(resource: str) -> str:
    return f"cardshop:wake:{resource}"


def waiting_key(resource: str) -> str:
    return f"cardshop:waiting:{resource}"


def release_keys(lock: Redlock, resource: str) -> list[str]:
    """release.lua's keys: the lock (pottery's key), its wake list and its count of waiters."""
    return [lock.key, wake_key(resource), waiting_key(resource)]


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
        self._sequences: dict[str, NodeNextID] = {}
        self._woke: dict[str, float] = {}  # resource -> when this process last woke a waiter for it
        self._contended: dict[str, bool] = {}  # resource -> whether its last acquire here waited

    def acquire(self, resource: str, *, wait: float | None = None) -> NodeRedlock:
        """Win the resource's Redlock on a majority of nodes within ``wait`` seconds."""
        lock = NodeRedlock(
            resource=resource,
            nodes=self.nodes,
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
        # A lock that this process last won at its first try (a plan that sells a few
        # orders a second) is tried at once: looking first would cost a round trip on
        # nearly every sale and spare a failed try only now and then.
        look = polite or self._contended.get(resource, False)
        tried = started
        woken = waited = False
        try:
            while True:
                # The hint can be wrong for a while: a node that was hung applies, once it
                # answers again, the lock writes it had queued, and one stale key there
                # would keep a waiter out for the key's lifetime. So a real attempt is made
                # at least every HINT_DOUBT seconds, whatever the hint says.
                now = time.monotonic()
                if not polite and (woken or not look or now - tried >= HINT_DOUBT or not self._visibly_held(lock)):
                    tried = now
                    try:
                        if lock.acquire(blocking=False):
                            metrics.observe_lock_wait(time.monotonic() - started)
                            self._contended[resource] = waited
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
                look = waited = True
        finally:
            waiter.leave()

    def hand_over(self, resource: str, lock: Redlock) -> None:
        """Wake one process that waits for ``lock`` (see _Waiter), after a release that
        could not do it (:meth:`let_go`)."""
        node = self.hint_node(lock)
        if node is None:
            return
        script = self.nodes.scripts["release"]  # with nothing of ours to delete: the wake-up only
        try:
            _, waiting = call_node(
                node, script, keys=release_keys(lock, resource), args=["", WAKE_TTL_MS, 1], client=node
            ).result()
        except RedisError:
            return
        if int(waiting) > 0:
            self._woke[resource] = time.monotonic()

    def hint_node(self, lock: Redlock) -> redis.Redis | None:
        """The node that hints at the lock's state: the last healthy one in pottery's
        order of the nodes, the same in every process, so every waiter counts itself
        and blocks on the same node. A release reaches all nodes at once, and the
        wake-up is pushed only once a majority has applied it; a waiter that merely
        looked at the hint node may try a moment early and lose one attempt."""
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

    def next_token(self, resource: str, *, seen: int | None = None) -> int:
        """A new fencing token: pottery NextID's read (unless ``seen``, the sequence a
        majority showed when the lock was taken) and its write, which a majority must
        apply (set-if-greater: two drawers of one value cannot both get it). A write
        that a majority refused because the sequence moved on meanwhile is followed by
        NextID's own read and write.

        Reading when the lock is taken is as good as reading just after: a node lets the
        next holder take the key only once the last holder released it there (or the
        key expired), and the last holder's token had been applied on a majority before
        it released; so any majority the next holder reads holds that token."""
        sequence = self._sequence(resource)
        try:
            if seen is not None:
                with contextlib.suppress(QuorumNotAchieved):
                    sequence.write(seen + 1)
                    return seen + 1
            return int(next(sequence))
        except (QuorumIsImpossible, QuorumNotAchieved) as error:
            metrics.count_quorum_failure()
            raise StockUnavailable() from error

    def _sequence(self, resource: str) -> NodeNextID:
        sequence = self._sequences.get(resource)
        if sequence is None:
            sequence = self._sequences[resource] = NodeNextID(
                key=f"cardshop:{resource}", nodes=self.nodes, raise_on_redis_errors=True
            )
        return sequence

    # ------------------------------------------------- many locks at a time

    def take_many(self, resources: list[str]) -> dict[str, NodeRedlock]:
        """Try the locks of ``resources`` all at once, without waiting: take.lua for every
        one of them on every node in one round trip (:meth:`NodeSet.send_many`). Returns
        the locks won, by resource. Each lock is won or lost exactly as
        :meth:`NodeRedlock._acquire_masters` decides for one lock: taken on a majority of
        nodes, with time left after pottery's clock drift allowance; the sequence a
        majority showed comes with it. What was taken of a lock not won is let go of
        at once. A resource whose waiter this process woke a moment ago is not tried:
        that waiter goes first, as in :meth:`acquire`. Nothing here waits for a holder:
        a lock held elsewhere is simply not won. Raises StockUnavailable when fewer than
        a majority of nodes answered."""
        now = time.monotonic()
        polite = [r for r in resources if now - self._woke.get(r, -HINT_DOUBT) < HINT_DOUBT]
        locks = {
            resource: NodeRedlock(
                resource=resource, nodes=self.nodes, auto_release_time=self.ttl, raise_on_redis_errors=True
            )
            for resource in resources
            if resource not in polite
        }
        if not locks:
            return {}
        script = self.nodes.scripts["take"]
        lifetime = int(self.ttl * 1000)
        commands, calls = [], []
        for resource, lock in locks.items():
            lock._uuid = str(uuid.uuid4())
            lock._extension_num = 0
            command, call = script_command(script, [lock.key, fence_key(resource)], [lock._uuid, lifetime])
            commands.append(command)
            calls.append(call)
        started = time.monotonic()
        answers = self.nodes.send_many(commands, calls)
        elapsed = time.monotonic() - started
        won: dict[str, NodeRedlock] = {}
        for (resource, lock), replies in zip(locks.items(), answers, strict=True):
            taken = sum(1 for reply in replies if reply.ok and int(reply.value[0]) == 1)
            validity = lock.auto_release_time - lock._Redlock__drift() - elapsed  # type: ignore[attr-defined]
            if taken >= self.nodes.quorum and validity > 0:
                lock.sequence_seen = max(int(reply.value[1]) for reply in replies if reply.ok)
                won[resource] = lock
                self._contended[resource] = False
                metrics.observe_lock_wait(elapsed)
        unwon = [lock for resource, lock in locks.items() if resource not in won]
        if unwon:
            self._release_many(unwon)
        if sum(1 for reply in answers[0] if reply.ok) < self.nodes.quorum:
            self._release_many(list(won.values()))
            metrics.count_lock_failure("quorum")
            metrics.count_quorum_failure()
            raise StockUnavailable()
        return won

    def drawing(self, fence: Fence) -> tuple[tuple[Any, ...], Callable[[redis.Redis], Any]]:
        """NextID's write step for a lock just won, as a command to send with others
        (:meth:`NodeSet.send_many`) and the call that runs it on one node: the
        resource's sequence set to ``fence.token``, where lower. The token is the
        sequence the lock's take read, plus one (:meth:`next_token` with ``seen``); it
        is the fence's only once :meth:`drawn` says a majority applied the write."""
        script = cast(Script, self._sequence(fence.resource)._set_id_script)
        return script_command(script, [fence_key(fence.resource)], [fence.token])

    def drawn(self, fence: Fence, replies: list[Reply]) -> bool:
        """Whether a majority applied the write of :meth:`drawing`: then no other holder
        can draw the same token (set-if-greater)."""
        return sum(1 for reply in replies if reply.ok and reply.value == fence.token) >= self.nodes.quorum

    def let_go_many(self, locks: dict[str, NodeRedlock]) -> None:
        """:meth:`let_go` for several locks in one round trip (release.lua for each): each
        wakes a process waiting for it, and one a majority did not release still wakes a
        waiter to try (:meth:`hand_over`)."""
        answers = self._release_many(list(locks.values()))
        now = time.monotonic()
        for (resource, lock), replies in zip(locks.items(), answers, strict=True):
            lock.woke = any(reply.ok and int(reply.value[1]) > 0 for reply in replies)
            if sum(1 for reply in replies if reply.ok and int(reply.value[0])) >= self.nodes.quorum:
                if lock.woke:
                    self._woke[resource] = now
            else:
                self.hand_over(resource, lock)

    def _release_many(self, locks: list[NodeRedlock]) -> list[list[Reply]]:
        script = self.nodes.scripts["release"]
        pairs = [
            script_command(script, release_keys(lock, lock.resource), [lock._uuid, WAKE_TTL_MS, 0]) for lock in locks
        ]
        if not pairs:
            return []
        commands, calls = zip(*pairs, strict=True)
        return self.nodes.send_many(commands, calls)

    def raise_floor(self, resource: str, floor: int) -> None:
        """Make the resource's next token exceed ``floor`` on every reachable node."""
        self.nodes.run_script("fence_floor", [fence_key(resource)], [floor])

    @contextlib.contextmanager
    def hold(self, resource: str, *, wait: float | None = None) -> Iterator[Fence]:
        """Hold the resource's lock with a fresh fencing token for the ``with`` body."""
        lock = self.acquire(resource, wait=wait)
        try:
            yield Fence(lock, resource, self.next_token(resource, seen=lock.sequence_seen))
        finally:
            self.let_go(resource, lock)

    def let_go(self, resource: str, lock: NodeRedlock) -> None:
        """Release ``lock``, which wakes a process waiting for it (release.lua), and
        remember having woken one (:meth:`acquire` lets it win). A release that did not
        reach a majority (the lock expired, nodes down) still wakes a waiter to try."""
        try:
            lock.release()
        except (ReleaseUnlockedLock, QuorumIsImpossible, QuorumNotAchieved):
            self.hand_over(resource, lock)
            return
        if lock.woke:
            self._woke[resource] = time.monotonic()


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
