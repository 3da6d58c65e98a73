"""``make run``: the embedded stack, the database with demo data, and gunicorn.

Starts three local Redis nodes unless REDIS_URLS is set, runs the migrations, loads the
demo catalogue on first use (or reloads the counters from the database otherwise),
then serves under gunicorn until Ctrl-C (or SIGTERM, SIGHUP: what a terminal closing,
``kill`` or a supervisor sends), and stops gunicorn and the nodes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from . import PROJECT_ROOT, create_app, instance_path, runtime
from .embedded import EmbeddedStack
from .extensions import db
from .models import Product
from .schema import ensure_schema
from .services.demo import load_demo


def prepare() -> None:
    app = create_app()
    with app.app_context():
        ensure_schema()
        if db.session.scalars(select(Product).limit(1)).first() is None:
            load_demo(db.session)
            print("demo catalogue loaded (root agent invite code 00168)")
        runtime.stock().reconcile(actor="startup")
    runtime.runtime(app).close()


def main() -> int:
    # Python's default SIGTERM ends the process at once, without its finally blocks: the
    # nodes (in sessions of their own) and gunicorn would go on running, orphaned.
    for stop in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, signal.default_int_handler)
    stack = None
    if not os.environ.get("REDIS_URLS"):
        stack = EmbeddedStack(3, workdir=instance_path() / "redis").start()
        os.environ["REDIS_URLS"] = ",".join(stack.urls)
        print(f"embedded Redis nodes: {os.environ['REDIS_URLS']}")
    try:
        prepare()
        gunicorn = Path(sys.executable).with_name("gunicorn")
        print(f"serving on http://{os.environ.get('CARDSHOP_BIND', '127.0.0.1:8000')} (Ctrl-C stops)")
        server = subprocess.Popen([str(gunicorn), "-c", "gunicorn.conf.py"], cwd=PROJECT_ROOT)
        try:
            return server.wait()
        except KeyboardInterrupt:
            server.send_signal(signal.SIGTERM)
            return server.wait()
    finally:
        if stack is not None:
            stack.stop()


if __name__ == "__main__":
    raise SystemExit(main())
