"""gunicorn settings for cardshop, read from the environment with sane defaults.

    CARDSHOP_BIND           127.0.0.1:8000
    CARDSHOP_WORKERS        one per core (at least 2)
    CARDSHOP_THREADS        16
    CARDSHOP_WORKER_CLASS   gthread (sync when CARDSHOP_THREADS is 1)

Threads matter for the stock path: the requests for one product waiting in one process
are sold as one batch under one lock (cardshop/stock/combine.py), so fewer processes
with more threads sell a hot product faster than many single-threaded processes that
contend for its lock.
    CARDSHOP_TIMEOUT        30 seconds (a worker silent for longer is restarted)
    CARDSHOP_GRACEFUL_TIMEOUT 10 seconds
    CARDSHOP_SWITCH_INTERVAL  0.001 seconds (Python's GIL switch interval in workers)

With no REDIS_URLS the master starts the embedded three-node stack before forking, so
every worker shares the same nodes, and stops it on exit.
"""

import multiprocessing
import os
import sys

bind = os.environ.get("CARDSHOP_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("CARDSHOP_WORKERS", max(2, multiprocessing.cpu_count())))
threads = int(os.environ.get("CARDSHOP_THREADS", "16"))
worker_class = os.environ.get("CARDSHOP_WORKER_CLASS", "gthread" if threads > 1 else "sync")
timeout = int(os.environ.get("CARDSHOP_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("CARDSHOP_GRACEFUL_TIMEOUT", "10"))
keepalive = 5
backlog = 2048
accesslog = os.environ.get("CARDSHOP_ACCESS_LOG") or None
wsgi_app = "wsgi:app"

switch_interval = float(os.environ.get("CARDSHOP_SWITCH_INTERVAL", "0.001"))

_embedded = None


def post_fork(server, worker):  # type: ignore[no-untyped-def]
    # A thread waiting on Redis must get the GIL back quickly when its reply arrives;
    # at Python's default 5 ms, a batch leader's fifteen round trips queue behind the
    # other threads' work (measured: about half the throughput of one product).
    sys.setswitchinterval(switch_interval)


def on_starting(server):  # type: ignore[no-untyped-def]
    global _embedded  # noqa: PLW0603 - gunicorn hooks share state through the module
    if not os.environ.get("REDIS_URLS"):
        from cardshop.embedded import EmbeddedStack

        _embedded = EmbeddedStack(3).start()
        os.environ["REDIS_URLS"] = ",".join(_embedded.urls)
        server.log.info("embedded Redis nodes: %s", os.environ["REDIS_URLS"])


def on_exit(server):  # type: ignore[no-untyped-def]
    if _embedded is not None:
        _embedded.stop()
