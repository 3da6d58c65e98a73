"""One long-lived thread pool per process for every fan-out to the Redis nodes.

pottery creates a new ``BailOutExecutor`` (a fresh ThreadPoolExecutor, so three new
threads) for every acquire, release and NextID step; measured, that thread start-up
was most of the stock path's time. :class:`SharedBailOutExecutor` keeps pottery's
semantics — submit, then leave the ``with`` block without waiting for stragglers — on
a shared pool, and :func:`install` points pottery's modules at it. pottery is pinned
(requirements.txt); tests/test_stock_pool.py fails if an upgrade moves the seam.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

import pottery.nextid
import pottery.redlock

POOL_THREADS = 64  # enough for every node call of a worker's threads, and hung-node stragglers

_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_pid = 0
_guard = threading.Lock()


def shared_pool() -> concurrent.futures.ThreadPoolExecutor:
    """The process's pool; rebuilt in a forked child, whose parent's threads did not survive."""
    global _pool, _pool_pid  # noqa: PLW0603 - one pool per process by design
    if _pool is None or _pool_pid != os.getpid():
        with _guard:
            if _pool is None or _pool_pid != os.getpid():
                _pool = concurrent.futures.ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="cardshop-node")
                _pool_pid = os.getpid()
    return _pool


class SharedBailOutExecutor:
    """pottery's BailOutExecutor contract on the shared pool: exiting never waits."""

    def __enter__(self) -> SharedBailOutExecutor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        return None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        return shared_pool().submit(fn, *args, **kwargs)


def install() -> None:
    pottery.redlock.BailOutExecutor = SharedBailOutExecutor  # type: ignore[attr-defined,misc,assignment]
    pottery.nextid.BailOutExecutor = SharedBailOutExecutor  # type: ignore[attr-defined,misc,assignment]
