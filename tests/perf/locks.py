"""One lease's lock work in one process: take the lock, draw a token, release it.

Compares pottery's own Redlock and NextID (calling the nodes one after another, through
cardshop's inline executor) with cardshop's NodeRedlock and NodeNextID (each step sent
to all nodes at once), on three local nodes of their own, in alternating rounds:

    .venv/bin/python -m tests.perf.locks --cycles 2000 --rounds 3

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
from cardshop.stock.locks import NodeNextID, NodeRedlock
from cardshop.stock.nodes import NodeSet, connect


def cycles(lock: Redlock, sequence: NextID, count: int) -> tuple[float, float]:
    """Mean wall and CPU time of one take-token-release cycle, in microseconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        if not lock.acquire(blocking=False):
            raise RuntimeError("the lock was not free")
        next(sequence)
        lock.release()
    return (time.perf_counter() - wall) / count * 1e6, (time.process_time() - cpu) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--busy-threads", type=int, default=0)
    parser.add_argument("--switch-interval", type=float, default=0.001)
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
        kinds: dict[str, Callable[[], tuple[Redlock, NextID]]] = {
            "pottery, one node after another": lambda: (
                Redlock(key="bench:a", masters=nodes.clients, auto_release_time=10.0, raise_on_redis_errors=True),
                NextID(key="bench:a", masters=nodes.clients, raise_on_redis_errors=True),
            ),
            "cardshop, all nodes at once": lambda: (
                NodeRedlock(resource="bench:b", nodes=nodes, auto_release_time=10.0, raise_on_redis_errors=True),
                NodeNextID(key="bench:b", nodes=nodes, raise_on_redis_errors=True),
            ),
        }
        print(f"{'cycle':<34} {'wall us':>8} {'cpu us':>8}")
        for _ in range(args.rounds):
            for name, make in kinds.items():
                wall, cpu = cycles(*make(), args.cycles)
                # With busy threads the process's CPU time is mostly theirs.
                print(f"{name:<34} {wall:8.0f} {'-' if args.busy_threads else f'{cpu:.0f}':>8}")
        done.set()
        nodes.close()


if __name__ == "__main__":
    main()
