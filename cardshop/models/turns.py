"""Turns for SQLite's one writer.

SQLite lets one connection write at a time, and a connection that finds the database
busy polls for it with growing sleeps (1, 2, 5, 10, ... ms). When a sale spreads over
many plans, batches for different plans write at the same moment, and that polling,
not the writing, is what they wait for. So on a SQLite file the stock path's write
transactions take turns on locks that wake the next writer as soon as the last one
is done: a mutex for the threads of a process, and an ``flock`` on a file beside the
database for the processes. PostgreSQL locks rows, not the database; there a turn is
free.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator

from .base import DbSession


class WriteTurns:
    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._files: dict[tuple[int, str], int] = {}  # (pid, path): descriptor opened by that process

    @contextlib.contextmanager
    def turn(self, session: DbSession) -> Iterator[None]:
        """Hold the write turn of the session's database for the ``with`` body."""
        url = session.get_bind().engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            yield
            return
        with self._mutex:
            descriptor = self._descriptor(f"{url.database}-writer.lock")
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)

    def _descriptor(self, path: str) -> int:
        # Opened anew in each process: a descriptor inherited across fork shares its
        # flock with the parent's, so it would not keep the processes apart.
        key = (os.getpid(), path)
        if key not in self._files:
            self._files[key] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._files[key]


write_turns = WriteTurns()
