"""One lease's lock work in one process: take the lock, draw a token, release it.

Compares pottery's own Redlock and NextID (calling the nodes one after another, through
cardshop's inline executor) with cardshop's NodeRedlock and NodeNextID (each step sent
to all nodes at once), on three local nodes of their own, in alternating rounds:

    .venv/bin/python -m tests.perf.locks --cycles 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import tempfile
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
    args = parser.parse_args()
    with EmbeddedStack(3, workdir=Path(tempfile.mkdtemp(prefix="cardshop-locks-"))) as stack:
        nodes = NodeSet(connect(stack.urls, socket_timeout=1.0, connect_timeout=1.0), wait=1.0)
        kinds: dict[str, Callable[[], tuple[Redlock, NextID]]] = {
            "pottery, one node after another": lambda: (
                Redlock(key="bench:a", masters=nodes.clients, auto_release_time=10.0, raise_on_redis_errors=True),
                NextID(key="bench:a", masters=nodes.clients, raise_on_redis_errors=True),
            ),
            "cardshop, all nodes at once": lambda: (
                NodeRedlock(key="bench:b", nodes=nodes, auto_release_time=10.0, raise_on_redis_errors=True),
                NodeNextID(key="bench:b", nodes=nodes, raise_on_redis_errors=True),
            ),
        }
        print(f"{'cycle':<34} {'wall us':>8} {'cpu us':>8}")
        for _ in range(args.rounds):
            for name, make in kinds.items():
                wall, cpu = cycles(*make(), args.cycles)
                print(f"{name:<34} {wall:8.0f} {cpu:8.0f}")
        nodes.close()


if __name__ == "__main__":
    main()
