"""gunicorn settings for cardshop, read from the environment with sane defaults.

    CARDSHOP_BIND           127.0.0.1:8000
    CARDSHOP_WORKERS        one per core (at least 2)
    CARDSHOP_THREADS        32
    CARDSHOP_WORKER_CLASS   gthread (sync when CARDSHOP_THREADS is 1)

Threads matter for the stock path: the requests for one product waiting in one process
are sold as one batch under one lock (cardshop/stock/combine.py), so fewer processes
with more threads sell a hot product faster than many single-threaded processes that
contend for its lock.
    CARDSHOP_TIMEOUT        30 seconds (a worker silent for longer is restarted)
    CARDSHOP_GRACEFUL_TIMEOUT 10 seconds
    CARDSHOP_SWITCH_INTERVAL  0.001 seconds (Python's GIL switch interval in workers)
    CARDSHOP_METRICS_DIR    a fresh temporary directory (prometheus multiprocess files)
    CARDSHOP_ACCESS_LOG     off ("-" for stderr); paths only, never query strings
    CARDSHOP_LOG_JSON       true: gunicorn's own lines are JSON like the app's

With no REDIS_URLS the master starts the embedded three-node stack before forking, so
every worker shares the same nodes, and stops it on exit.

Metrics: every worker is a process of its own, so prometheus-client runs in
multiprocess mode. PROMETHEUS_MULTIPROC_DIR must be set before prometheus_client is
first imported, which is why it is set here, at the top of the master's config; the
directory is emptied when the master starts, and a dead worker's live gauges are
dropped in child_exit.
"""

import gc
import glob
import multiprocessing
import os
import shutil
import sys
import tempfile

from gunicorn import glogging

bind = os.environ.get("CARDSHOP_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("CARDSHOP_WORKERS", max(2, multiprocessing.cpu_count())))
threads = int(os.environ.get("CARDSHOP_THREADS", "32"))
worker_class = os.environ.get("CARDSHOP_WORKER_CLASS", "gthread" if threads > 1 else "sync")
timeout = int(os.environ.get("CARDSHOP_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("CARDSHOP_GRACEFUL_TIMEOUT", "10"))
keepalive = 5
backlog = 2048
accesslog = os.environ.get("CARDSHOP_ACCESS_LOG") or None
# %(U)s is the path without the query string: a query may carry a phone number.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms req=%({x-request-id}o)s'
wsgi_app = "wsgi:app"

switch_interval = float(os.environ.get("CARDSHOP_SWITCH_INTERVAL", "0.001"))

_own_metrics_dir = not os.environ.get("CARDSHOP_METRICS_DIR")
metrics_dir = os.environ.get("CARDSHOP_METRICS_DIR") or tempfile.mkdtemp(prefix="cardshop-metrics-")
os.makedirs(metrics_dir, exist_ok=True)
os.environ["CARDSHOP_METRICS_DIR"] = os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir

if os.environ.get("CARDSHOP_LOG_JSON", "true").strip().lower() not in {"0", "false", "no", "off"}:
    _console = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "filters": ["request_id", "scrub"],
        "stream": "ext://sys.stderr",
    }
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "cardshop.logs.JsonFormatter"}},
        "filters": {
            "request_id": {"()": "cardshop.logs.RequestIdFilter"},
            "scrub": {"()": "cardshop.logs.ScrubFilter"},
        },
        "handlers": {"console": _console},
        # The app installs its own root handler (cardshop.logs); gunicorn's default
        # would print every app line twice.
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
            # The app logs each request itself (cardshop.access, with its request id).
            "gunicorn.access": {"handlers": ["console"] if accesslog else [], "level": "INFO", "propagate": False},
        },
    }


class _Logger(glogging.Logger):
    """gunicorn's logger without its access line unless CARDSHOP_ACCESS_LOG asks for it:
    the app logs each request itself, and with a logging configuration set gunicorn
    would build every access line (about a tenth of a sold-out answer's time) only to
    drop it."""

    def access(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


logger_class = _Logger

_embedded = None


def post_fork(server, worker):  # type: ignore[no-untyped-def]
    # A thread waiting on Redis must get the GIL back quickly when its reply arrives;
    # at Python's default 5 ms, a batch leader's fifteen round trips queue behind the
    # other threads' work (measured: about half the throughput of one product).
    sys.setswitchinterval(switch_interval)


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    # What the worker has loaded (modules, the app, its mappers and statements: about
    # 110,000 objects) lives as long as the worker, so it is moved out of the cyclic
    # collector's way. Before, each full collection walked all of it with the GIL held,
    # 50-110 ms in which none of the worker's threads ran (four times in half a minute
    # of a flash sale), and, during a product's lease, neither did its sale elsewhere.
    gc.collect()
    gc.freeze()


def on_starting(server):  # type: ignore[no-untyped-def]
    global _embedded  # noqa: PLW0603 - gunicorn hooks share state through the module
    for stale in glob.glob(os.path.join(metrics_dir, "*.db")):
        os.remove(stale)  # counters from an earlier run of the same directory
    if not os.environ.get("REDIS_URLS"):
        from cardshop.embedded import EmbeddedStack

        _embedded = EmbeddedStack(3).start()
        os.environ["REDIS_URLS"] = ",".join(_embedded.urls)
        server.log.info("embedded Redis nodes: %s", os.environ["REDIS_URLS"])


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, metrics_dir)


def on_exit(server):  # type: ignore[no-untyped-def]
    if _embedded is not None:
        _embedded.stop()
    if _own_metrics_dir:
        shutil.rmtree(metrics_dir, ignore_errors=True)
