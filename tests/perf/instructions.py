"""Instructions per request, counted by valgrind: a CPU cost that does not drift.

This machine's speed moves by a third from one minute to the next, so a change that
saves a tenth of a request's CPU cannot be seen in requests per second or CPU seconds.
callgrind counts the instructions a process executes, which do not depend on what else
the machine is doing (the same code measures within about 0.1% from run to run). Only
the measured loop is counted (``callgrind_control`` turns counting on and off around
it), in one thread of one process: what the GIL and the other threads cost under load
is the bench's business, not this one's.

    .venv/bin/python -m tests.perf.instructions
    .venv/bin/python -m tests.perf.instructions --kinds soldout --tree /tmp/old-checkout

Kinds (``--kinds``, comma-separated):

- ``healthz``: ``GET /healthz`` through the app's WSGI callable (no gunicorn);
- ``soldout``: ``POST /api/orders`` for a sold-out plan, through the WSGI callable;
- ``batch``: one batch of ten orders sold by the stock service in one thread (the lock,
  the token, reserve.lua, the database write, the release), each order parsed from its
  JSON payload first as a request would; printed per order.

``--tree PATH`` measures another checkout the same way (after this one), for a before
and after: ``git worktree add /tmp/old HEAD~1``. Needs ``valgrind`` (Debian's package).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from werkzeug.test import EnvironBuilder

ROOT = Path(__file__).resolve().parents[2]
BATCH = 10
COUNTS = {"healthz": 400, "soldout": 400, "batch": 60}  # measured iterations
WARM = 30


def counting(on: bool) -> None:
    """Turn callgrind's counting on or off for this process (a no-op outside valgrind)."""
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], capture_output=True)


def work(kind: str, count: int) -> None:
    """Run ``count`` iterations of ``kind`` between a warm-up and the counted loop."""
    from cardshop import create_app, runtime
    from cardshop.embedded import EmbeddedStack
    from cardshop.extensions import db
    from cardshop.models import Product
    from cardshop.services import order_input
    from cardshop.services.orders import OrderWriter
    from cardshop.services.risk import RiskRules
    from cardshop.stock.combine import Sale
    from tests.support import order_payload, product_fields

    workdir = Path(tempfile.mkdtemp(prefix="cardshop-instructions-"))
    with EmbeddedStack(3, workdir=workdir) as stack:
        app = create_app({"REDIS_URLS": stack.urls, "DATABASE_URL": f"sqlite:///{workdir}/instructions.db"})
        with app.app_context():
            db.create_all()
            db.session.add(Product(**product_fields("SOLD", 0)))
            db.session.add(Product(**product_fields("HOT", 10_000_000)))
            db.session.commit()
            runtime.stock().reconcile(actor="bench")
            stock = runtime.stock()
            rules = RiskRules.from_config(app.config)
            # Every request and payload is built before counting starts: only the app's
            # own work is counted, not the harness's.
            total = WARM + count

            def environ(method: str, path: str, body: str = "", key: str = "") -> dict[str, Any]:
                headers = {"Idempotency-Key": key} if key else {}
                builder = EnvironBuilder(
                    method=method,
                    path=path,
                    data=body,
                    headers=headers,
                    content_type="application/json" if body else None,
                )
                return cast(dict[str, Any], builder.get_environ())

            def call(env: dict[str, Any]) -> None:
                b"".join(app.wsgi_app(env, lambda *_: None))

            if kind == "batch":
                payloads = iter(
                    [
                        [(f"b-{n}-{i}", json.dumps(order_payload("HOT", n * BATCH + i))) for i in range(BATCH)]
                        for n in range(total)
                    ]
                )
            else:
                requests = iter(
                    [environ("GET", "/healthz") for _ in range(total)]
                    if kind == "healthz"
                    else [
                        environ("POST", "/api/orders", json.dumps(order_payload("SOLD", n)), key=f"s-{n}")
                        for n in range(total)
                    ]
                )

            def request() -> None:
                call(next(requests))

            def batch() -> None:
                sales = []
                for key, raw in next(payloads):
                    order = order_input.parse(json.loads(raw), max_qty=5)
                    sales.append(Sale(1, key, OrderWriter(order, key, (None, None), datetime.now(UTC), rules)))
                stock.combiner.sell_all({"HOT": sales}, stock._sell_round)
                for sale in sales:
                    sale.outcome()

            run = batch if kind == "batch" else request
            for _ in range(WARM):
                run()
            counting(True)
            started = time.process_time()
            for _ in range(count):
                run()
            cpu = time.process_time() - started
            counting(False)
            print(json.dumps({"kind": kind, "count": count, "cpu_seconds": cpu}))
        runtime.runtime(app).close()
    shutil.rmtree(workdir, ignore_errors=True)


def measure(tree: Path, kind: str) -> float:
    """Instructions per request (per order for ``batch``) of ``kind`` in ``tree``."""
    count = COUNTS[kind]
    with tempfile.NamedTemporaryFile(prefix="cardshop-callgrind-") as out:
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out.name}"]
        command += [sys.executable, str(Path(__file__).resolve()), "--work", kind, str(count)]
        env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
        subprocess.run(command, cwd=tree, env=env, check=True, capture_output=True)
        total = next(
            int(line.split()[1]) for line in Path(out.name).read_text().splitlines() if line.startswith("totals:")
        )
    return total / count / (BATCH if kind == "batch" else 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", default="healthz,soldout,batch")
    parser.add_argument("--tree", action="append", default=[], help="another checkout to measure the same way")
    parser.add_argument("--work", nargs=2, metavar=("KIND", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.work:
        work(args.work[0], int(args.work[1]))
        return
    trees = [ROOT, *(Path(tree).resolve() for tree in args.tree)]
    print(f"{'tree':<40} {'kind':<8} {'instructions':>14}")
    for tree in trees:
        for kind in args.kinds.split(","):
            unit = " per order" if kind == "batch" else " per request"
            print(f"{tree!s:<40} {kind:<8} {measure(tree, kind):>14,.0f}{unit}", flush=True)


if __name__ == "__main__":
    main()
