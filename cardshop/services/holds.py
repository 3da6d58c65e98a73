"""Number holds (选号): a picked number is kept for one browser for a while.

A hold lives on the Redis nodes, like everything else that decides who gets something
scarce, and counts only when a majority of nodes granted it: two customers racing for
one number cannot both win, and one node going down loses no hold. A hold not won on
a majority is rolled back on the nodes that granted it. Holds expire by themselves
(the keys carry a TTL), and holding another number releases the first.

The owner of a hold is an opaque random token the caller keeps (the shop keeps it in
the browser's signed session); whoever presents it may buy the number.

Keys on every node, for a product ``sku`` and a number ``msisdn``:

    cardshop:hold:{sku}:<msisdn>   the owner token, with the hold's TTL
    cardshop:hold:{sku}            sorted set of held numbers scored by expiry (ms)
    cardshop:holder:<owner>        "<sku> <msisdn>": what the owner holds now
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..errors import Busy, NumberTaken, StockUnavailable
from ..stock.nodes import NodeSet, Reply

# While an order is being placed for a number its buyer did not hold (API clients that
# skip the picker), the number is held this long, then released.
ORDER_CLAIM_SECONDS = 60


def number_key(sku: str, msisdn: str) -> str:
    return f"cardshop:hold:{{{sku}}}:{msisdn}"


def index_key(sku: str) -> str:
    return f"cardshop:hold:{{{sku}}}"


def owner_key(owner: str) -> str:
    return f"cardshop:holder:{owner}"


def new_owner_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Hold:
    """A hold won on a majority of nodes; valid at least until ``expires_at``."""

    sku: str
    msisdn: str
    owner: str
    expires_at: datetime
    fresh: bool  # newly taken by this call (False: the owner held it already)

    @property
    def seconds_left(self) -> int:
        return max(0, int((self.expires_at - datetime.now(UTC)).total_seconds()))


def _text(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class HoldService:
    def __init__(self, nodes: NodeSet, *, seconds: int = 600, wait: float = 0.5, retry_max: float = 0.02) -> None:
        self.nodes = nodes
        self.seconds = seconds
        self.wait = wait  # longest time spent retrying split votes
        self.retry_max = retry_max

    def hold(self, sku: str, msisdn: str, owner: str, *, seconds: int | None = None) -> Hold:
        """Hold ``msisdn`` for ``owner`` and release what the owner held before.

        Raises NumberTaken when another owner holds it on a majority, Busy when
        racers kept splitting the nodes' votes until the deadline, StockUnavailable
        when fewer than a majority of nodes answer. The caller checks first that the
        number belongs to the product and is unsold in the database.
        """
        deadline = time.monotonic() + self.wait
        while True:
            granted = self._try_hold(sku, msisdn, owner, (seconds or self.seconds) * 1000)
            if granted is not None:
                return self._won(sku, msisdn, owner, granted)
            if time.monotonic() >= deadline:
                raise Busy()
            # A split vote: several customers took one node each and all rolled back.
            # Retry after a random pause so that one of them gets a majority.
            time.sleep(random.uniform(0, self.retry_max))  # noqa: S311 - jitter, not secrets

    def _try_hold(self, sku: str, msisdn: str, owner: str, ttl_ms: int) -> list[Reply] | None:
        """The granting replies when a majority granted; None after a split vote
        (rolled back); raises NumberTaken or StockUnavailable."""
        keys = [number_key(sku, msisdn), index_key(sku), owner_key(owner)]
        replies = self.nodes.run_script("hold", keys, [owner, msisdn, ttl_ms, sku])
        granted = [r for r in replies if r.ok and _text(r.value[0]) in {"ok", "mine"}]
        if len(granted) >= self.nodes.quorum:
            return granted
        self._release_on([r.node for r in granted if _text(r.value[0]) == "ok"], sku, msisdn, owner)
        unreachable = sum(1 for r in replies if not r.ok)
        if len(replies) - unreachable < self.nodes.quorum:
            raise StockUnavailable()
        holders = [_text(r.value[2]) for r in replies if r.ok and _text(r.value[0]) == "taken"]
        # Someone who may hold a majority (counting the nodes we cannot see) keeps it.
        if any(holders.count(holder) + unreachable >= self.nodes.quorum for holder in holders):
            raise NumberTaken()
        return None

    def _won(self, sku: str, msisdn: str, owner: str, granted: list[Reply]) -> Hold:
        previous = {_text(r.value[2]) for r in granted} - {""}
        for entry in previous:
            previous_sku, _, previous_msisdn = entry.partition(" ")
            self.release(previous_sku, previous_msisdn, owner)
        # The hold is certain on a majority until the quorum-th longest TTL runs out.
        ttls = sorted((int(r.value[1]) for r in granted), reverse=True)
        expires_at = datetime.now(UTC) + timedelta(milliseconds=ttls[self.nodes.quorum - 1])
        fresh = sum(1 for r in granted if _text(r.value[0]) == "ok") >= self.nodes.quorum
        return Hold(sku, msisdn, owner, expires_at, fresh)

    def release(self, sku: str, msisdn: str, owner: str) -> None:
        """Give the number up if ``owner`` holds it; a no-op otherwise."""
        self._release_on(range(len(self.nodes)), sku, msisdn, owner)

    def _release_on(self, targets: Iterable[int], sku: str, msisdn: str, owner: str) -> list[Reply]:
        wanted = set(targets)
        if not wanted:
            return []
        script = self.nodes.scripts["unhold"]
        keys = [number_key(sku, msisdn), index_key(sku), owner_key(owner)]
        clients = self.nodes.clients

        def release(client):  # type: ignore[no-untyped-def]
            if clients.index(client) not in wanted:
                return None
            return script(keys=keys, args=[owner, msisdn, sku], client=client)

        return self.nodes.fanout(release)

    def held_numbers(self, sku: str, owner: str | None) -> tuple[set[str], str | None]:
        """(numbers of ``sku`` held by others, the number of ``sku`` the owner holds).

        A number held on any answering node counts as held: what a customer is shown
        errs on the side of hiding a number for at most a hold's lifetime. Raises
        StockUnavailable when fewer than a majority of nodes answer.
        """
        owner_ref = owner_key(owner or "-")
        replies = self.nodes.run_script("held", [index_key(sku), owner_ref], [])
        answered = [r for r in replies if r.ok]
        if len(answered) < self.nodes.quorum:
            raise StockUnavailable()
        held = {_text(member) for r in answered for member in r.value[0]}
        entries = [_text(r.value[1]) for r in answered]
        own = None
        for entry in set(entries) - {""}:
            entry_sku, _, msisdn = entry.partition(" ")
            if entry_sku == sku and entries.count(entry) >= self.nodes.quorum:
                own = msisdn
        return held - ({own} if own else set()), own

    def holding(self, owner: str, sku: str | None = None) -> Hold | None:
        """What ``owner`` holds on a majority of nodes right now (of ``sku`` if given)."""

        def read(client):  # type: ignore[no-untyped-def]
            entry = client.get(owner_key(owner))
            if entry is None:
                return None
            entry_sku, _, msisdn = _text(entry).partition(" ")
            pipe = client.pipeline(transaction=False)
            pipe.get(number_key(entry_sku, msisdn))
            pipe.pttl(number_key(entry_sku, msisdn))
            holder, ttl = pipe.execute()
            return (entry_sku, msisdn, int(ttl)) if holder is not None and _text(holder) == owner else None

        replies = self.nodes.fanout(read)
        if sum(1 for r in replies if r.ok) < self.nodes.quorum:
            raise StockUnavailable()
        votes: dict[tuple[str, str], list[int]] = {}
        for reply in replies:
            if reply.ok and reply.value is not None:
                entry_sku, msisdn, ttl = reply.value
                votes.setdefault((entry_sku, msisdn), []).append(ttl)
        for (entry_sku, msisdn), ttls in votes.items():
            if len(ttls) >= self.nodes.quorum and (sku is None or entry_sku == sku):
                left = sorted(ttls, reverse=True)[self.nodes.quorum - 1]
                return Hold(entry_sku, msisdn, owner, datetime.now(UTC) + timedelta(milliseconds=left), False)
        return None
