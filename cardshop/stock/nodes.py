"""The Redis nodes: clients, the scripts they run, and fan-out with a bounded wait.

Every node is an independent master. A call is sent to all of them at once from a
thread pool that lives as long as the process (created lazily, so a forked gunicorn
worker gets its own); the caller decides from the replies whether a majority agreed.
A node that is down answers with an error at once; a hung one costs at most the
socket timeout, and often less, because a fan-out returns as soon as its answer is
decided.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

LUA_SCRIPTS = ("reserve", "unreserve", "sync", "fence_floor", "hold", "unhold", "held")


def connect(urls: Iterable[str], *, socket_timeout: float, connect_timeout: float) -> list[redis.Redis]:
    """One client per node. No client-side retries: a dead node must fail fast."""
    return [
        redis.Redis.from_url(
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


class NodeSet:
    def __init__(self, clients: Sequence[redis.Redis], *, wait: float) -> None:
        if len(clients) < 3 or len(clients) % 2 == 0:
            raise ValueError("needs an odd number of at least 3 Redis nodes")
        self.clients = list(clients)
        self.quorum = len(self.clients) // 2 + 1
        self.wait = wait
        self.scripts: dict[str, Script] = {
            name: self.clients[0].register_script(
                resources.files("cardshop.stock").joinpath(f"lua/{name}.lua").read_text()
            )
            for name in LUA_SCRIPTS
        }
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._pool_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.clients)

    @property
    def pool(self) -> concurrent.futures.ThreadPoolExecutor:
        # Threads do not survive fork: a gunicorn worker builds its own pool.
        if self._pool is None or self._pool_pid != os.getpid():
            with self._pool_lock:
                if self._pool is None or self._pool_pid != os.getpid():
                    self._pool = concurrent.futures.ThreadPoolExecutor(
                        max_workers=8 * len(self.clients), thread_name_prefix="cardshop-node"
                    )
                    self._pool_pid = os.getpid()
        return self._pool

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
    ) -> list[Reply]:
        """Call every node at once; return their replies in node order.

        Returns when every node has answered, when ``wait`` has passed, or when
        ``decided(replies_so_far)`` is true (then stragglers get ``grace`` seconds more).
        Nodes that did not answer in time are reported as :class:`NodeTimeout`.
        """
        futures = {self.pool.submit(call, client): index for index, client in enumerate(self.clients)}
        replies: dict[int, Reply] = {}
        try:
            for future in concurrent.futures.as_completed(futures, timeout=self.wait):
                index = futures[future]
                try:
                    replies[index] = Reply(index, value=future.result())
                except Exception as error:  # noqa: BLE001 - every node error is data here
                    replies[index] = Reply(index, error=error)
                if decided is not None and len(replies) < len(futures) and decided(list(replies.values())):
                    pending = [f for f, i in futures.items() if i not in replies]
                    done, _ = concurrent.futures.wait(pending, timeout=grace)
                    for late in done:
                        try:
                            replies[futures[late]] = Reply(futures[late], value=late.result())
                        except Exception as error:  # noqa: BLE001
                            replies[futures[late]] = Reply(futures[late], error=error)
                    break
        except concurrent.futures.TimeoutError:
            pass
        return [
            replies.get(index) or Reply(index, error=NodeTimeout("no answer in time"))
            for index in range(len(self.clients))
        ]

    def ping(self) -> list[Reply]:
        return self.fanout(lambda client: client.ping())

    def close(self) -> None:
        if self._pool is not None and self._pool_pid == os.getpid():
            self._pool.shutdown(wait=False, cancel_futures=True)
        for client in self.clients:
            client.close()
