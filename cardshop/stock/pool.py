"""How calls reach the Redis nodes: inline while a node is healthy, on a shared
thread pool while it is suspect.

Every stock step talks to all nodes. The steps that matter most (taking and releasing
a lock, a fencing token, our own scripts) send one command to every healthy node before
reading any reply (``NodeSet.send_all``, ``NodeRedlock``, ``NodeNextID``); the rest of
pottery (``locked``, ``extend``) and every other fan-out go through :func:`call_node`.
pottery sends each call from a fresh thread pool; measured under load,
starting those threads and handing results between threads (each handoff can wait a
whole GIL switch interval) cost more than the Redis work itself. A call to a healthy
node on loopback takes about 0.1 ms, so calling the nodes one after another in the
calling thread is faster than any handoff. The one thing threads buy is not waiting
for a hung node: so a node whose call timed out is *suspect* for SUSPECT_SECONDS, and
its calls go to a shared pool, where a fan-out can return without it. A node that
hangs costs the first request that meets it one socket timeout, and nothing after.

:class:`NodeExecutor` keeps pottery's ``BailOutExecutor`` contract (submit, then leave
the ``with`` block without waiting) and :func:`install` points pottery's modules at it.
pottery is pinned (requirements.txt); tests/test_combining.py fails if an upgrade moves
the seam.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import pottery.nextid
import pottery.redlock
import redis

from .. import metrics

POOL_THREADS = 64
SUSPECT_SECONDS = 5.0

_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_pid = 0
_guard = threading.Lock()
_suspect_until: dict[int, float] = {}  # id(client) -> monotonic time
_node_numbers: dict[int, int] = {}  # id(client) -> its position in REDIS_URLS, for metrics


def number_nodes(clients: list[redis.Redis]) -> None:
    for number, client in enumerate(clients):
        _node_numbers[id(client)] = number


def shared_pool() -> concurrent.futures.ThreadPoolExecutor:
    """The process's pool; rebuilt in a forked child, whose parent's threads did not survive."""
    global _pool, _pool_pid  # noqa: PLW0603 - one pool per process by design
    if _pool is None or _pool_pid != os.getpid():
        with _guard:
            if _pool is None or _pool_pid != os.getpid():
                _pool = concurrent.futures.ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="cardshop-node")
                _pool_pid = os.getpid()
    return _pool


def suspect(client: redis.Redis) -> bool:
    return _suspect_until.get(id(client), 0.0) > time.monotonic()


def call_node(node: redis.Redis, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
    """Run ``fn`` against ``node``: inline when healthy, on the pool when suspect."""
    if suspect(node):
        return shared_pool().submit(watched, node, fn, *args, **kwargs)
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    try:
        future.set_result(watched(node, fn, *args, **kwargs))
    except Exception as error:  # noqa: BLE001 - the caller reads errors from the future
        future.set_exception(error)
    return future


def watched(node: redis.Redis, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` against ``node`` here and now, counting its errors; a timeout makes the
    node suspect."""
    try:
        return fn(*args, **kwargs)
    except redis.RedisError as error:
        metrics.count_node_error(_node_numbers.get(id(node), -1))
        if isinstance(error, redis.TimeoutError):
            _suspect_until[id(node)] = time.monotonic() + SUSPECT_SECONDS
        raise


def _client_of(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> redis.Redis | None:
    for candidate in (kwargs.get("client"), args[0] if args else None, getattr(fn, "__self__", None)):
        if isinstance(candidate, redis.Redis):
            return candidate
    return None


class NodeExecutor:
    """pottery's BailOutExecutor contract, routing each call through :func:`call_node`."""

    def __enter__(self) -> NodeExecutor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        return None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        client = _client_of(fn, args, kwargs)
        if client is None:
            return shared_pool().submit(fn, *args, **kwargs)
        return call_node(client, fn, *args, **kwargs)


def install() -> None:
    pottery.redlock.BailOutExecutor = NodeExecutor  # type: ignore[attr-defined,misc,assignment]
    pottery.nextid.BailOutExecutor = NodeExecutor  # type: ignore[attr-defined,misc,assignment]
