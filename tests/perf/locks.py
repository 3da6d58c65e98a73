"""One lease's lock work in one process: take the lock, draw a token, release it.

Compares pottery's own Redlock and NextID (calling the nodes one after another, through
cardshop's inline executor) with cardshop's NodeRedlock and NodeNextID (each step sent
to all nodes at once), and with ``LockManager.hold`` as the stock path uses it (the
take that reads the sequence, the token's write, the release that wakes a waiter), on
three local nodes of their own, in alternating rounds:

    .venv/bin/python -m tests.perf.locks --cycles 2000 --rounds 3
    .venv/bin/python -m tests.perf.locks --kinds hold --busy-threads 1

``--busy-threads N`` runs the cycles beside N threads of pure Python work, as a gunicorn
worker's selling thread runs beside the threads answering requests: every system call
gives up the GIL, and each time another thread wants it the cycle waits about a switch
interval (gunicorn.conf.py sets 1 ms) to get it back.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pottery import NextID, Redlock

from cardshop.embedded import EmbeddedStack
from cardshop.stock.locks import LockManager, NodeNextID, NodeRedlock
from cardshop.stock.nodes import NodeSet, connect


def steps(lock: Redlock, sequence: NextID) -> Callable[[], None]:
    """One take-token-release cycle with a lock and a sequence of their own."""

    def cycle() -> None:
        if not lock.acquire(blocking=False):
            raise RuntimeError("the lock was not free")
        next(sequence)
        lock.release()

    return cycle


def held(manager: LockManager) -> Callable[[], None]:
    """One cycle as the stock path takes it: ``with manager.hold(...)``."""

    def cycle() -> None:
        with manager.hold("bench:c"):
            pass

    return cycle


def cycles(cycle: Callable[[], None], count: int) -> tuple[float, float]:
    """Mean wall and CPU time of one cycle, in microseconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        cycle()
    return (time.perf_counter() - wall) / count * 1e6, (time.process_time() - cpu) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--busy-threads", type=int, default=0)
    parser.add_argument("--switch-interval", type=float, default=0.001)
    parser.add_argument("--kinds", default="pottery,nodes,hold", help="comma-separated: pottery, nodes, hold")
    args = parser.parse_args()
    sys.setswitchinterval(args.switch_interval)
    done = threading.Event()

    def busy() -> None:
        while not done.is_set():
            sum(range(1000))

    for _ in range(args.busy_threads):
        threading.Thread(target=busy, daemon=True).start()
    with EmbeddedStack(3, workdir=Path(tempfile.mkdtemp(prefix="cardshop-locks-"))) as stack:
        nodes = NodeSet(connect(stack.urls, socket_timeout=1.0, connect_timeout=1.0), wait=1.0)
        manager = LockManager(nodes, ttl=10.0, wait=1.0, retry_max=0.002)
        kinds: dict[str, tuple[str, Callable[[], Callable[[], None]]]] = {
            "pottery": (
                "pottery, one node after another",
                lambda: steps(
                    Redlock(key="bench:a", masters=nodes.clients, auto_release_time=10.0, raise_on_redis_errors=True),
                    NextID(key="bench:a", masters=nodes.clients, raise_on_redis_errors=True),
                ),
            ),
            "nodes": (
                "cardshop, all nodes at once",
                lambda: steps(
                    NodeRedlock(resource="bench:b", nodes=nodes, auto_release_time=10.0, raise_on_redis_errors=True),
                    NodeNextID(key="bench:b", nodes=nodes, raise_on_redis_errors=True),
                ),
            ),
            "hold": ("cardshop, LockManager.hold", lambda: held(manager)),
        }
        chosen = [kinds[kind] for kind in args.kinds.split(",")]
        print(f"{'cycle':<34} {'wall us':>8} {'cpu us':>8}")
        for _ in range(args.rounds):
            for name, make in chosen:
                wall, cpu = cycles(make(), args.cycles)
                # With busy threads the process's CPU time is mostly theirs.
                print(f"{name:<34} {wall:8.0f} {'-' if args.busy_threads else f'{cpu:.0f}':>8}")
        done.set()
        nodes.close()


if __name__ == "__main__":
    main()
