"""Prometheus metrics: what operators alert on (see README, "Alerts").

Under gunicorn every worker is its own process, so prometheus-client runs in
multiprocess mode: gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR (and
CARDSHOP_METRICS_DIR) at a fresh directory before the workers start, each worker
writes its samples there, and a scrape adds them up. Without it (tests, the flask
CLI) the process's own registry is used.

Plain functions, no Flask: the stock core calls them from the hot path.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Histogram, Summary, generate_latest, multiprocess
from prometheus_client.core import REGISTRY, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

F = TypeVar("F", bound=Callable[..., Any])

ORDERS = Counter("cardshop_orders", "Order attempts, by outcome (created, duplicate, sold_out, busy, ...)", ["outcome"])
STOCK_PATH = Histogram(
    "cardshop_stock_path_seconds",
    "Time on the stock path (counters, lock, scripts, database write), by outcome",
    ["outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
LOCK_WAIT = Histogram(
    "cardshop_lock_wait_seconds",
    "Time spent waiting to win a product lock",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
LOCK_HELD = Histogram(
    "cardshop_lock_held_seconds",
    "Time a product lock was held to sell orders (one lease: one or more batches)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
BATCH_SIZE = Histogram(
    "cardshop_stock_batch_orders",
    "Orders sold together in one batch (one script call per node, one transaction)",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
SALE_STEPS = Summary(
    "cardshop_stock_step_seconds",
    "The selling thread's time in each step of a sale: turn (waiting for its process's turn to sell), "
    "take (the lock and its token), reserve (reserve.lua, per batch), write (the transaction, per batch), "
    "release; clock=wall, or clock=cpu for the thread's own CPU time",
    ["step", "clock"],
)
LOCK_FAILURES = Counter("cardshop_lock_failures", "Product locks not won, by reason (busy, quorum)", ["reason"])
QUORUM_FAILURES = Counter("cardshop_quorum_failures", "Stock operations refused because a majority was unreachable")
NODE_ERRORS = Counter("cardshop_redis_node_errors", "Errors and timeouts talking to a Redis node", ["node"])
HTTP_REQUESTS = Counter("cardshop_http_requests", "HTTP requests, by endpoint and status class", ["endpoint", "status"])
UPSTREAM_CALLS = Counter(
    "cardshop_upstream_submissions", "Orders handed to upstream, by adapter and outcome", ["adapter", "outcome"]
)
SOLD_OUT_LEASES = Counter(
    "cardshop_sold_out_leases", "Sold-out leases granted by a majority of nodes (answers from memory until each ends)"
)
RAISE_WAITS = Counter(
    "cardshop_stock_raise_waits", "Restocks, releases and give-backs that waited for a sold-out lease to end"
)
EXPORTS = Counter("cardshop_fulfilment_exports", "Fulfilment CSV exports (unmasked personal data) taken")


def observe_lock_wait(seconds: float) -> None:
    LOCK_WAIT.observe(seconds)


def observe_lock_held(seconds: float) -> None:
    LOCK_HELD.observe(seconds)


def observe_batch(orders: int) -> None:
    BATCH_SIZE.observe(orders)


class StepClock:
    """Times the steps of one sale in the selling thread (``cardshop_stock_step_seconds``):
    each :meth:`step` observes the wall and thread CPU time since the last one. Where a
    lease's time goes is mostly waiting (for a node, the disk, the GIL), which the gap
    between the two clocks shows. Off unless ``CARDSHOP_STOCK_STEP_TIMING`` is set
    (:func:`step_clock` then hands out :class:`NoClock`): the observations cost about 2%
    of a batch's instructions."""

    __slots__ = ("_cpu", "_wall")

    def __init__(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.thread_time()

    def step(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        SALE_STEPS.labels(step=name, clock="wall").observe(wall - self._wall)
        SALE_STEPS.labels(step=name, clock="cpu").observe(cpu - self._cpu)
        self._wall, self._cpu = wall, cpu


class NoClock(StepClock):
    """A :class:`StepClock` that times nothing."""

    __slots__ = ()

    def __init__(self) -> None:
        pass

    def step(self, name: str) -> None:
        pass


_NO_CLOCK = NoClock()
_TIMING = {"steps": False}  # this process's switch (STOCK_STEP_TIMING)


def time_sale_steps(enabled: bool) -> None:
    """Whether the sales of this process time their steps (``STOCK_STEP_TIMING``)."""
    _TIMING["steps"] = enabled


def step_clock() -> StepClock:
    """A clock for one sale's steps: a real one while step timing is on."""
    return StepClock() if _TIMING["steps"] else _NO_CLOCK


def count_lock_failure(reason: str) -> None:
    """``reason``: busy (not won before the deadline) or quorum (a majority unreachable)."""
    LOCK_FAILURES.labels(reason=reason).inc()


def count_sold_out_lease() -> None:
    SOLD_OUT_LEASES.inc()


def count_raise_wait() -> None:
    RAISE_WAITS.inc()


def count_quorum_failure() -> None:
    QUORUM_FAILURES.inc()


def count_node_error(node: int) -> None:
    NODE_ERRORS.labels(node=str(node)).inc()


def observe_stock_path(seconds: float, outcome: str) -> None:
    STOCK_PATH.labels(outcome=outcome).observe(seconds)


def count_order(outcome: str) -> None:
    ORDERS.labels(outcome=outcome).inc()


def counts_orders(place: F) -> F:
    """Count every call of an order-placing function by outcome: ``created`` or
    ``duplicate`` from its ``(order, created)`` result, else the domain error's code
    (sold_out, busy, stock_unavailable, risk_refused, ...). Wraps the service, so the
    JSON API and the shop's order form are counted alike."""

    @functools.wraps(place)
    def counted(*args: Any, **kwargs: Any) -> Any:
        try:
            result = place(*args, **kwargs)
        except Exception as error:
            count_order(str(getattr(error, "code", None) or "error"))
            raise
        count_order("created" if result[1] else "duplicate")
        return result

    return cast(F, counted)


def count_upstream(adapter: str, outcome: str) -> None:
    UPSTREAM_CALLS.labels(adapter=adapter, outcome=outcome).inc()


def count_export() -> None:
    EXPORTS.inc()


@dataclass(frozen=True)
class NodeReading:
    index: int
    up: bool
    latency_seconds: float


class NodeCollector(Collector):
    """Live gauges taken at scrape time: is each node up, how long a PING took, and
    whether a majority answers."""

    def __init__(self, read: Callable[[], tuple[list[NodeReading], int]]) -> None:
        self.read = read

    def collect(self) -> Iterable[Metric]:
        readings, quorum = self.read()
        up = GaugeMetricFamily("cardshop_redis_node_up", "1 when the Redis node answers PING", labels=["node"])
        latency = GaugeMetricFamily(
            "cardshop_redis_node_latency_seconds", "PING round trip to the Redis node", labels=["node"]
        )
        for reading in readings:
            up.add_metric([str(reading.index)], 1.0 if reading.up else 0.0)
            if reading.up:
                latency.add_metric([str(reading.index)], reading.latency_seconds)
        answering = sum(reading.up for reading in readings)
        held = GaugeMetricFamily("cardshop_redis_quorum", "1 while a majority of the Redis nodes answers")
        held.add_metric([], 1.0 if answering >= quorum else 0.0)
        return [up, latency, held]


def process_registry(multiprocess_dir: str) -> CollectorRegistry:
    """The registry holding this deployment's counters: every worker's, in multiprocess mode."""
    if not multiprocess_dir:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
    return registry


def render(multiprocess_dir: str, live: Collector | None = None) -> bytes:
    """The Prometheus text exposition of every metric, plus ``live`` ones."""
    text = generate_latest(process_registry(multiprocess_dir))
    if live is not None:
        extra = CollectorRegistry(auto_describe=False)
        extra.register(live)
        text += generate_latest(extra)
    return text


def totals(multiprocess_dir: str) -> dict[str, float]:
    """Sample values summed by name and labels, e.g. ``cardshop_lock_failures_total{reason=busy}``;
    for the ops status page."""
    found: dict[str, float] = {}
    for family in process_registry(multiprocess_dir).collect():
        if not family.name.startswith("cardshop_"):
            continue
        for sample in family.samples:
            labels = ",".join(f"{key}={value}" for key, value in sorted(sample.labels.items()) if key != "le")
            if "le" in sample.labels or sample.name.endswith("_created"):
                continue
            key = f"{sample.name}{{{labels}}}" if labels else sample.name
            found[key] = found.get(key, 0.0) + sample.value
    return found
