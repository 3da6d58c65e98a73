"""Query plans of the pages that grow with the data.

``page_queries`` renders a page in-process through Flask's test client and records
every SELECT it sends; ``explain`` asks the database how it runs each one
(``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL). Used by
``tests/perf/pages.py`` to print plans at a million orders, and by
``tests/test_query_plans.py`` to keep the plans on indexes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import event

# Tables that grow with the data: a plan that reads one of them whole is a defect.
GROWING = ("orders", "order_events", "commission_lines", "ledger_entries", "phone_numbers")


@dataclass(frozen=True)
class Query:
    sql: str
    params: Any


@dataclass(frozen=True)
class Plan:
    query: Query
    lines: list[str]

    def full_scans(self) -> list[str]:
        """Plan lines that read a growing table whole (no index to narrow or order it)."""
        found = []
        for line in self.lines:
            # SQLite: "SCAN orders" (a plain table scan); "SCAN orders USING INDEX ..." walks an
            # index in order and stops at the LIMIT, which is what a sorted page wants.
            sqlite = re.search(r"\bSCAN (\w+)(?: AS \w+)?$", line)
            postgres = re.search(r"Seq Scan on (\w+)", line)
            match = sqlite or postgres
            # SQLAlchemy aliases a table as orders_1, products_2, ...
            table = re.sub(r"_\d+$", "", match.group(1)) if match else None
            if table in GROWING:
                found.append(line)
        return found


@contextmanager
def recorded(app: Flask) -> Iterator[list[Query]]:
    """Record the SELECTs the app's engine runs inside the block."""
    from cardshop.extensions import db

    queries: list[Query] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            queries.append(Query(statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield queries
    finally:
        event.remove(engine, "before_cursor_execute", record)


def page_queries(
    app: Flask, path: str, *, user_id: str | None = None, method: str = "GET", **kwargs: Any
) -> list[Query]:
    """The SELECTs one request for ``path`` runs (logged in as ``user_id``, e.g. "agent:7")."""
    client = app.test_client()
    if user_id:
        with client.session_transaction() as session:
            session["_user_id"] = user_id
            session["_fresh"] = True
    with recorded(app) as queries:
        response = client.open(path, method=method, **kwargs)
    if response.status_code >= 400:
        raise AssertionError(f"{method} {path}: {response.status_code}")
    return queries


def explain(app: Flask, query: Query) -> Plan:
    from cardshop.extensions import db

    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + query.sql, query.params).all()
            lines = [str(row[-1]) for row in rows]
        else:
            rows = connection.exec_driver_sql("EXPLAIN " + query.sql, query.params).all()
            lines = [str(row[0]) for row in rows]
    return Plan(query, lines)


def plans_for(app: Flask, path: str, **kwargs: Any) -> list[Plan]:
    return [explain(app, query) for query in page_queries(app, path, **kwargs)]
