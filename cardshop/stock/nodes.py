"""The Redis nodes: clients, the scripts they run, and fan-out with a bounded wait.

Every node is an independent master. A call goes to each of them (see pool.py: inline
while a node is healthy, on a shared pool while it is suspect of hanging); the caller
decides from the replies whether a majority agreed. A node that is down answers with
an error at once; a hung one costs at most the socket timeout, and nothing once it is
suspect, because a fan-out returns as soon as its answer is decided.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

from .pool import call_node, number_nodes, suspect

LUA_SCRIPTS = ("reserve", "unreserve", "sync", "fence_floor", "peek", "hold", "unhold", "held", "handoff", "unwait")


class NodeClient(redis.Redis):
    """A node's client whose hash is the same in every process.

    pottery keeps the nodes in a frozenset and asks them in its iteration order; with
    the default identity hash every process would ask them in a different order, and
    contenders for one lock would each win a different node (a split vote, nobody
    wins). Hashing by address gives every process the same order."""

    def __hash__(self) -> int:
        kwargs = self.connection_pool.connection_kwargs
        return zlib.crc32(f"{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db')}".encode())

    def __eq__(self, other: object) -> bool:
        return self is other


def connect(urls: Iterable[str], *, socket_timeout: float, connect_timeout: float) -> list[redis.Redis]:
    """One client per node. No client-side retries: a dead node must fail fast."""
    return [
        NodeClient.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            health_check_interval=0,
            max_connections=256,
        )
        for url in urls
    ]


@dataclass(frozen=True)
class Reply:
    """One node's answer to a fan-out: a value, or the error it raised."""

    node: int
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class NodeTimeout(redis.TimeoutError):
    """The node did not answer within the fan-out's wait."""


def _reply(index: int, future: concurrent.futures.Future[Any]) -> Reply:
    try:
        return Reply(index, value=future.result())
    except Exception as error:  # noqa: BLE001 - every node error is data here
        return Reply(index, error=error)


class NodeSet:
    def __init__(self, clients: Sequence[redis.Redis], *, wait: float) -> None:
        if len(clients) < 3 or len(clients) % 2 == 0:
            raise ValueError("needs an odd number of at least 3 Redis nodes")
        self.clients = list(clients)
        self.quorum = len(self.clients) // 2 + 1
        number_nodes(self.clients)
        self.wait = wait
        self._turns = itertools.count()
        self.scripts: dict[str, Script] = {
            name: self.clients[0].register_script(
                resources.files("cardshop.stock").joinpath(f"lua/{name}.lua").read_text()
            )
            for name in LUA_SCRIPTS
        }

    def __len__(self) -> int:
        return len(self.clients)

    def run_script(self, name: str, keys: Sequence[str], args: Sequence[Any], **options: Any) -> list[Reply]:
        """Run one registered Lua script on every node."""
        script = self.scripts[name]
        return self.fanout(lambda client: script(keys=keys, args=args, client=client), **options)

    def fanout(
        self,
        call: Callable[[redis.Redis], Any],
        *,
        decided: Callable[[list[Reply]], bool] | None = None,
        grace: float = 0.0,
        read: bool = False,
    ) -> list[Reply]:
        """Call every node at once; return their replies in node order.

        Returns when every node has answered, when ``wait`` has passed, or when
        ``decided(replies_so_far)`` is true (then stragglers get ``grace`` seconds more).
        Nodes that did not answer in time are reported as :class:`NodeTimeout`.
        ``read``: the call changes nothing, so once ``decided`` holds the nodes not yet
        called are left alone (healthy nodes are called inline, one after another, so a
        majority that agrees costs a majority of calls, not all of them, and a node
        that timed out lately is asked last, so it costs nothing while the others
        agree); they are reported as :class:`NodeTimeout`.
        """
        if read and decided is not None:
            return self._read_majority(call, decided)
        futures = {call_node(client, call, client): index for index, client in enumerate(self.clients)}
        replies: dict[int, Reply] = {}
        try:
            for future in concurrent.futures.as_completed(futures, timeout=self.wait):
                index = futures[future]
                replies[index] = _reply(index, future)
                if decided is not None and len(replies) < len(futures) and decided(list(replies.values())):
                    pending = [f for f, i in futures.items() if i not in replies]
                    done, _ = concurrent.futures.wait(pending, timeout=grace)
                    for late in done:
                        replies[futures[late]] = _reply(futures[late], late)
                    break
        except concurrent.futures.TimeoutError:
            pass
        return [
            replies.get(index) or Reply(index, error=NodeTimeout("no answer in time"))
            for index in range(len(self.clients))
        ]

    def _read_majority(self, call: Callable[[redis.Redis], Any], decided: Callable[[list[Reply]], bool]) -> list[Reply]:
        count = len(self.clients)
        start = next(self._turns) % count  # spread the reads over the nodes
        rotated = [(start + step) % count for step in range(count)]
        order = sorted(rotated, key=lambda index: suspect(self.clients[index]))  # suspect nodes last
        replies: dict[int, Reply] = {}
        for position, index in enumerate(order):
            future = call_node(self.clients[index], call, self.clients[index])
            if not future.done():  # a suspect node, called on the pool: ask the rest at once
                rest = {future: index}
                rest.update({call_node(self.clients[i], call, self.clients[i]): i for i in order[position + 1 :]})
                with contextlib.suppress(concurrent.futures.TimeoutError):
                    for late in concurrent.futures.as_completed(rest, timeout=self.wait):
                        replies[rest[late]] = _reply(rest[late], late)
                        if decided(list(replies.values())):
                            break
                break
            replies[index] = _reply(index, future)
            if decided(list(replies.values())):
                break
        return [replies.get(index) or Reply(index, error=NodeTimeout("not asked")) for index in range(count)]

    def ping(self) -> list[Reply]:
        return self.fanout(lambda client: client.ping())

    def close(self) -> None:
        for client in self.clients:
            client.close()
