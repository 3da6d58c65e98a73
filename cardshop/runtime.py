"""The app's connections to its Redis nodes, and the services built on them.

Kept on ``app.extensions`` so blueprints and CLI commands get a ready StockService
without knowing how the nodes were found. With no ``REDIS_URLS`` configured the
embedded stack is started on first use (not at import), so CLI commands that never
touch stock start no processes.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, current_app

from . import metrics
from .embedded import EmbeddedStack
from .extensions import db
from .services.catalog import TermsCache
from .services.holds import HoldService
from .stock import Combiner, LockManager, NodeSet, SoldOutLeases, StockService, connect


class Runtime:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.embedded: EmbeddedStack | None = None
        self._nodes: NodeSet | None = None
        self._locks: LockManager | None = None
        self._guard = threading.Lock()
        self.combiner = Combiner()  # one per process: threads selling one product share batches
        self.leases = SoldOutLeases(config["SOLD_OUT_LEASE"])  # one per process, like the combiner
        metrics.time_sale_steps(config["STOCK_STEP_TIMING"])
        self.catalog = TermsCache()

    @property
    def nodes(self) -> NodeSet:
        if self._nodes is None:
            with self._guard:
                if self._nodes is None:
                    urls = self.config.get("REDIS_URLS")
                    if not urls:
                        self.embedded = EmbeddedStack(3).start()
                        urls = self.config["REDIS_URLS"] = self.embedded.urls
                    timeout = self.config["REDIS_SOCKET_TIMEOUT"]
                    clients = connect(
                        urls, socket_timeout=timeout, connect_timeout=self.config["REDIS_CONNECT_TIMEOUT"]
                    )
                    self._locks = None
                    self._nodes = NodeSet(clients, wait=timeout + 0.05)
        return self._nodes

    @property
    def locks(self) -> LockManager:
        if self._locks is None:
            self._locks = LockManager(
                self.nodes,
                ttl=self.config["LOCK_TTL"],
                wait=self.config["LOCK_WAIT"],
                retry_max=self.config["LOCK_RETRY_MAX"],
            )
        return self._locks

    def stock(self) -> StockService:
        return StockService(
            self.nodes,
            db.session,
            self.locks,
            combiner=self.combiner,
            leases=self.leases,
            lease=self.config["LOCK_LEASE"],
        )

    def close(self) -> None:
        if self._nodes is not None:
            self._nodes.close()
        if self.embedded is not None:
            self.embedded.stop()


def init_app(app: Flask) -> None:
    app.extensions["cardshop.runtime"] = Runtime(app.config)  # type: ignore[arg-type]


def runtime(app: Flask | None = None) -> Runtime:
    return (app or current_app).extensions["cardshop.runtime"]  # type: ignore[no-any-return]


def stock() -> StockService:
    return runtime().stock()


def holds() -> HoldService:
    return HoldService(runtime().nodes, seconds=current_app.config["HOLD_SECONDS"])
