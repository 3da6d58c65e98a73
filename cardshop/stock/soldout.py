"""Answering "sold out" again without asking the nodes: sold-out leases.

A sold-out plan under a crowd is asked about hundreds of times a second, and each
answer read two nodes. What a thread costs here is not the read's instructions but
its wait: it gives up the GIL and has to win it back. So a process that has just read
"nothing left" on a majority remembers it for a short lease (``SOLD_OUT_LEASE``) and
answers the next orders for that plan from memory. Two things make that answer as
good as a read:

* **Nothing can be given back while the lease stands.** The read that saw 0 (peek.lua)
  leaves a lease on each node it read; the scripts that raise a counter (sync.lua for
  restock, release, repair and reconcile; unreserve.lua for the give-back after a
  failed database write) refuse to raise it on a node with a lease, put up a rising
  flag there (no new leases) and are called again once the lease has passed
  (:func:`wait_out_leases`). A raise takes effect once a majority has it, and any
  majority shares a node with the majority that granted a process its lease, so no
  raise completes before that lease ends. The process counts its lease from before
  it sent the read, so it stops answering from memory before any node's lease ends.
* **A retried order still finds the order its first copy bought.** An order key that
  was sold left a marker on a majority of nodes; remembering "sold out" would answer
  its retry 409 instead of returning its order. So each node also keeps a filter of
  the marker keys applied there (reserve.lua sets four bits of a 262,144-bit map per
  key), and the process keeps a copy of the filter of each node whose lease it holds,
  taken once per version (a count of applied orders and an epoch that sync.lua
  renews). While the counter is 0 no key can be applied, so the copy stays complete
  for the whole lease; a key the copy may hold is checked on the nodes as before. A
  filter only errs towards "may hold": a false hit costs one read.

What this gives up: when a node restarts empty during a lease it loses that lease, so
a restock written to it and the node that was not read can take effect up to one lease
(50 ms) before the process stops answering "sold out" (and an order sold in that
window and retried within it is answered 409 rather than given its order). Never an
oversell: a lease only ever refuses, and every sale is still decided under the lock.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import metrics
from .nodes import Reply
from .tally import status_of

SEEN_BITS = 1 << 18  # as in reserve.lua
RAISE_ROUNDS = 4  # a raise waits out at most this many leases (the rising flag stops new ones)
# In the last part of a lease one thread of the process reads the nodes again while the
# others still answer from the lease: without it, every thread that arrived as the
# lease ended read the nodes, a few reads per lease instead of one.
RENEW_SHARE = 0.4


def seen_bits(marker: str) -> tuple[int, ...]:
    """The four bits reserve.lua sets in a seen-keys filter for ``marker``."""
    digest = hashlib.sha1(marker.encode(), usedforsecurity=False).hexdigest()
    return tuple(int(digest[part * 5 : part * 5 + 5], 16) % SEEN_BITS for part in range(4))


def new_epoch() -> str:
    """A fresh epoch for a counter written by sync.lua."""
    return os.urandom(8).hex()


@dataclass(frozen=True)
class SeenKeys:
    """One node's seen-keys filter of a product, as of one version."""

    version: tuple[int, str]  # (applied, epoch)
    bitmap: bytes

    def may_hold(self, bits: tuple[int, ...]) -> bool:
        """Whether the key whose :func:`seen_bits` are ``bits`` may have been applied."""
        data = self.bitmap
        for bit in bits:
            byte = bit >> 3
            if byte >= len(data) or not data[byte] >> (7 - (bit & 7)) & 1:
                return False
        return True


@dataclass(frozen=True)
class Lease:
    """What a process may answer from memory: the plan is sold out until ``until``
    (monotonic), except for marker keys one of ``seen`` may hold."""

    until: float
    seen: tuple[SeenKeys, ...]

    def refuses(self, marker: str, now: float) -> bool:
        if now >= self.until:
            return False
        bits = seen_bits(marker)
        return not any(keys.may_hold(bits) for keys in self.seen)


class SoldOutLeases:
    """A process's sold-out leases and its copies of the nodes' seen-keys filters.

    One per process (like the Combiner), shared by its threads. ``seconds`` 0 turns
    leases off: every sold-out answer reads the nodes."""

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds
        self._leases: dict[str, Lease] = {}
        self._seen: dict[tuple[str, int], SeenKeys] = {}
        self._renewing: dict[str, Lease] = {}  # the lease one thread is reading to renew
        self._mutex = threading.Lock()

    @property
    def lease_ms(self) -> int:
        return int(self.seconds * 1000)

    def refuses(self, sku: str, marker: str) -> bool:
        """Whether this process may answer ``marker``'s order "sold out" from memory.
        False for the one thread that is to renew a lease near its end."""
        lease = self._leases.get(sku)
        if lease is None:
            return False
        now = time.monotonic()
        if not lease.refuses(marker, now):
            return False
        return lease.until - now >= self.seconds * RENEW_SHARE or not self._renews(sku, lease)

    def _renews(self, sku: str, lease: Lease) -> bool:
        """Whether the calling thread is the one to read the nodes to renew ``lease``."""
        with self._mutex:
            if self._renewing.get(sku) is lease:
                return False
            self._renewing[sku] = lease
            return True

    def grant(
        self,
        sku: str,
        asked_at: float,
        nodes: Sequence[tuple[int, tuple[int, str]]],
        fetch: Callable[[int], SeenKeys | None],
    ) -> None:
        """Remember that a majority of nodes, each of (index, version), granted a lease
        to a read sent at ``asked_at``. ``fetch(index)`` reads a node's filter when
        this process has no copy of that version (None: it could not)."""
        seen = []
        for index, version in nodes:
            keys = self._seen.get((sku, index))
            if keys is None or keys.version != version:
                keys = fetch(index)
                if keys is None or keys.version != version:
                    return  # a key was applied since the read, or the node did not answer
                with self._mutex:
                    self._seen[(sku, index)] = keys
            seen.append(keys)
        with self._mutex:
            self._leases[sku] = Lease(asked_at + self.seconds, tuple(seen))
        metrics.count_sold_out_lease()


def wait_out_leases(run: Callable[[list[int]], list[Reply]], nodes: list[int]) -> list[Reply]:
    """Run a script that may raise a counter (sync.lua, unreserve.lua) on ``nodes``
    with ``run(nodes)``, and again on the nodes that answered "leased" once their
    leases have passed. Returns one reply per node; a node still leased after
    RAISE_ROUNDS rounds keeps its "leased" reply (not "ok")."""
    replies = {reply.node: reply for reply in run(nodes)}
    for _ in range(RAISE_ROUNDS):
        leased = [reply for reply in replies.values() if status_of(reply) == "leased"]
        if not leased:
            break
        metrics.count_raise_wait()
        time.sleep(max(int(reply.value[3]) for reply in leased) / 1000 + 0.001)
        replies.update((reply.node, reply) for reply in run([reply.node for reply in leased]))
    return [replies[node] for node in sorted(replies)]


def as_version(applied: Any, epoch: Any) -> tuple[int, str]:
    return int(applied), epoch.decode() if isinstance(epoch, bytes) else str(epoch)
