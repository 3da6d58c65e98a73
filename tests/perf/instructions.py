"""Instructions per request, counted by valgrind: a CPU cost that does not drift.

This machine's speed moves by a third from one minute to the next, so a change that
saves a tenth of a request's CPU cannot be seen in requests per second or CPU seconds.
callgrind counts the instructions a process executes, which do not depend on what else
the machine is doing (the same code measures within about 1% from run to run). Only
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
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BATCH = 10
COUNTS = {"healthz": 400, "soldout": 400, "batch": 60}  # measured iterations
WARM = 30


def environ(method: str, path: str, body: bytes = b"", key: str = "") -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json" if body else "",
    }
    if key:
        env["HTTP_IDEMPOTENCY_KEY"] = key
    return env


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
            served = [0]

            def call(env: dict[str, Any]) -> None:
                b"".join(app.wsgi_app(env, lambda *_: None))

            def healthz() -> None:
                call(environ("GET", "/healthz"))

            def soldout() -> None:
                served[0] += 1
                body = json.dumps(order_payload("SOLD", served[0])).encode()
                call(environ("POST", "/api/orders", body, key=f"s-{served[0]}"))

            def batch() -> None:
                sales = []
                for _ in range(BATCH):
                    served[0] += 1
                    order = order_input.parse(json.loads(json.dumps(order_payload("HOT", served[0]))), max_qty=5)
                    key = f"b-{served[0]}"
                    sales.append(Sale(1, key, OrderWriter(order, key, (None, None), datetime.now(UTC), rules)))
                stock._sell_batch("HOT", sales)
                for sale in sales:
                    sale.outcome()

            run = {"healthz": healthz, "soldout": soldout, "batch": batch}[kind]
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
