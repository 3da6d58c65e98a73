"""Whether selling is safe right now: each Redis node, the quorum, lock trouble, and
whether the nodes' counters agree with the database."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..errors import Busy, StockUnavailable
from ..metrics import NodeReading
from ..stock import NodeSet, ReconcileRow, StockService


@dataclass(frozen=True)
class NodeHealth:
    index: int
    address: str
    up: bool
    latency_ms: float | None
    error: str
    version: str = ""
    uptime_seconds: int | None = None
    used_memory: str = ""


def node_health(nodes: NodeSet) -> list[NodeHealth]:
    """PING and INFO every node at once; a dead or hung node costs at most the fan-out wait."""

    def probe(client):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        client.ping()
        latency = time.perf_counter() - started
        info = client.info("server") | client.info("memory")
        return latency, info

    health = []
    for reply in nodes.fanout(probe):
        address = _address(nodes.clients[reply.node])
        if not reply.ok:
            health.append(NodeHealth(reply.node, address, False, None, type(reply.error).__name__))
            continue
        latency, info = reply.value
        health.append(
            NodeHealth(
                reply.node,
                address,
                True,
                round(latency * 1000, 2),
                "",
                version=str(info.get("redis_version", "")),
                uptime_seconds=int(info.get("uptime_in_seconds", 0)),
                used_memory=str(info.get("used_memory_human", "")),
            )
        )
    return health


def readings(nodes: NodeSet) -> tuple[list[NodeReading], int]:
    """For the live gauges on /metrics."""
    found = []
    for reply in nodes.fanout(_timed_ping):
        found.append(NodeReading(reply.node, reply.ok, reply.value if reply.ok else 0.0))
    return found, nodes.quorum


def _timed_ping(client) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    client.ping()
    return time.perf_counter() - started


def _address(client) -> str:  # type: ignore[no-untyped-def]
    """host:port of a node, never its password."""
    kwargs = client.connection_pool.connection_kwargs
    if kwargs.get("path"):
        return f"unix:{kwargs['path']}"
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


@dataclass
class Reconciliation:
    rows: list[ReconcileRow]
    error: str = ""

    @property
    def differing(self) -> int:
        return sum(1 for row in self.rows if any(value != row.database for value in row.nodes))


def reconcile(stock: StockService, *, dry_run: bool, actor: str) -> Reconciliation:
    """Compare (or, with ``dry_run`` False, rewrite) every product's counters against
    the database; the reason in words when the nodes cannot be reached."""
    try:
        return Reconciliation(stock.reconcile(dry_run=dry_run, actor=actor))
    except StockUnavailable:
        return Reconciliation([], "Redis 多数节点不可用，无法对账。恢复节点后再试。")
    except Busy:
        return Reconciliation([], "有商品正在抢购，锁被占用，请稍后再试。")


@dataclass(frozen=True)
class LockFigures:
    """Since the servers started: lock waits and what went wrong, from /metrics."""

    waits: int
    mean_wait_ms: float
    busy: int
    quorum: int
    quorum_failures: int
    node_errors: dict[str, int]
    orders: dict[str, int]


def lock_figures(totals: dict[str, float], node_count: int) -> LockFigures:
    waits = int(totals.get("cardshop_lock_wait_seconds_count", 0))
    waited = totals.get("cardshop_lock_wait_seconds_sum", 0.0)
    orders = {
        key.split("outcome=", 1)[1].rstrip("}"): int(value)
        for key, value in totals.items()
        if key.startswith("cardshop_orders_total{")
    }
    return LockFigures(
        waits=waits,
        mean_wait_ms=round(waited / waits * 1000, 2) if waits else 0.0,
        busy=int(totals.get("cardshop_lock_failures_total{reason=busy}", 0)),
        quorum=int(totals.get("cardshop_lock_failures_total{reason=quorum}", 0)),
        quorum_failures=int(totals.get("cardshop_quorum_failures_total", 0)),
        node_errors={
            str(i): int(totals.get(f"cardshop_redis_node_errors_total{{node={i}}}", 0)) for i in range(node_count)
        },
        orders=orders,
    )
