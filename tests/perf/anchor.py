"""The anchor of ``make bench``: pottery's default blocking ``with Redlock(...)`` around
the stock path's Lua decrement (reserve.lua on each node), from N processes at once.

A program of its own, run by bench.py: importing cardshop's stock package points
pottery at cardshop's node executor (cardshop/stock/pool.py), so a process that had
imported it would no longer measure pottery's default. Nothing here imports cardshop.
Prints {"done": total decrements, "seconds": window} as JSON.

    .venv/bin/python -m tests.perf.anchor --urls redis://...,redis://...,redis://... --processes 16
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from pathlib import Path

import redis
from pottery import Redlock

RESERVE = (Path(__file__).resolve().parents[2] / "cardshop" / "stock" / "lua" / "reserve.lua").read_text()


def decrement_loop(job: tuple[list[str], str, float, float, bool]) -> int:
    """Decrement one unit under pottery's default lock until the window closes."""
    urls, sku, start_at, seconds, cardshop_executor = job
    if cardshop_executor:
        from cardshop.stock import pool

        pool.install()  # pottery's calls to the nodes go inline, as in cardshop
    clients = [redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1) for url in urls]
    reserve = clients[0].register_script(RESERVE)
    stock = f"cardshop:stock:{{{sku}}}"  # cardshop.stock.selling.stock_key
    pid, done = os.getpid(), 0
    time.sleep(max(0.0, start_at - time.time()))  # every process starts the window together
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        with Redlock(key=f"bench:anchor:{sku}", masters=frozenset(clients)):
            for client in clients:
                reserve(keys=[stock, f"{stock}:seen", f"{stock}:op:{pid}-{done}"], args=[1, 60, 1], client=client)
        done += 1
    return done


def measure(urls: list[str], sku: str, processes: int, seconds: float, *, cardshop_executor: bool = False) -> int:
    start_at = time.time() + 2.0 + processes * 0.1  # time for every process to start and import
    job = (urls, sku, start_at, seconds, cardshop_executor)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        return sum(pool.map(decrement_loop, [job] * processes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--urls", required=True, help="comma-separated node URLs")
    parser.add_argument("--sku", default="BASE")
    parser.add_argument("--processes", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--cardshop-executor", action="store_true", help="pottery calling the nodes inline")
    args = parser.parse_args()
    done = measure(
        args.urls.split(","), args.sku, args.processes, args.seconds, cardshop_executor=args.cardshop_executor
    )
    print(json.dumps({"done": done, "seconds": args.seconds}))


if __name__ == "__main__":
    main()
