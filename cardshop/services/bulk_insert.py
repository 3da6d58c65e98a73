"""Bulk inserts for seeding: rows as tuples, written with the driver's executemany.

Naive datetimes given here are UTC (the seed works in naive UTC for speed).

A million orders carry some fifteen million rows (events, commission lines, ledger
entries); per-row ORM or even Core parameter processing would cost more than the
inserts themselves. So rows are plain tuples in a column order the caller names once,
values are converted here only where the driver needs it (SQLite keeps datetimes as the
UTC text SQLAlchemy's DateTime writes), and each chunk is one executemany on SQLite and
one COPY on PostgreSQL (several times faster than even pipelined INSERTs).
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Date, DateTime, Table

Convert = Callable[[Any], Any]


def table(model: Any) -> Table:
    """A mapped class's Table."""
    return model.__table__  # type: ignore[no-any-return]


def sqlite_datetime(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DATETIME text for a UTC instant (what UTCDateTime would bind).

    Naive datetimes are taken as UTC already."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def _remembered(convert: Convert, size: int = 100_000) -> Convert:
    """``convert`` with a memory of recent values: an order's few instants recur in its
    events, commission lines and ledger entries, and formatting costs more than a lookup."""
    memory: dict[Any, Any] = {}

    def converted(value: Any) -> Any:
        found = memory.get(value, memory)
        if found is memory:
            if len(memory) >= size:
                memory.clear()
            found = memory[value] = convert(value)
        return found

    return converted


def sqlite_date(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


class BulkWriter:
    """Tuples collected per table, inserted in chunks by one background thread.

    The drivers release the GIL while the database works (sqlite3 around each step,
    psycopg while waiting on the server), so the next chunk is built while the last one
    is written. Chunks are written in the order they were flushed, on this writer's
    connection only; call ``wait`` before using the connection yourself.

    A full chunk flushes every table, in the order tables were first given rows, so a row
    is never written before the row its foreign key points at (parents are added first)."""

    def __init__(self, connection: Connection, chunk: int = 10_000) -> None:
        self.connection = connection
        self.chunk = chunk
        self.sqlite = connection.dialect.name == "sqlite"
        if not self.sqlite:
            # COPY then reads the seed's naive datetimes as UTC, with no conversion per value.
            connection.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
        self.rows: dict[Table, list[tuple[Any, ...]]] = {}
        self.layouts: dict[Table, tuple[str, list[str], list[tuple[int, Convert]]]] = {}
        self.written: Counter[str] = Counter()
        self.pending: queue.Queue[tuple[str, list[tuple[Any, ...]]] | None] = queue.Queue(maxsize=8)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._write, name="bulk-insert", daemon=True)
        self.thread.start()

    def _write(self) -> None:
        while (item := self.pending.get()) is not None:
            try:
                if self.error is None:
                    self._insert(*item)
            except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
                self.error = error
            finally:
                self.pending.task_done()
        self.pending.task_done()

    def _insert(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if self.sqlite:
            self.connection.exec_driver_sql(sql, rows)
            return
        # psycopg: COPY on the connection's own cursor, inside the caller's transaction.
        psycopg = self.connection.connection.driver_connection
        assert psycopg is not None
        with psycopg.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)

    def columns(self, table: Table, names: Sequence[str]) -> None:
        """Declare the column order of the tuples ``put`` will get for ``table``."""
        quote = self.connection.dialect.identifier_preparer.quote
        target = f"{quote(table.name)} ({', '.join(quote(name) for name in names)})"
        if self.sqlite:
            sql = f"INSERT INTO {target} VALUES ({', '.join(['?'] * len(names))})"  # noqa: S608 - our names
        else:
            sql = f"COPY {target} FROM STDIN"
        converters = [
            (index, convert)
            for index, name in enumerate(names)
            if (convert := self._converter(table.columns[name].type)) is not None
        ]
        self.layouts[table] = (sql, list(names), converters)
        self.rows.setdefault(table, [])

    def _converter(self, kind: Any) -> Convert | None:
        kind = getattr(kind, "impl", kind)  # UTCDateTime decorates DateTime
        if not self.sqlite:  # COPY takes dates, bools and (UTC, see above) datetimes as they are
            return None
        if isinstance(kind, DateTime):
            return _remembered(sqlite_datetime)
        if isinstance(kind, Date):
            return sqlite_date
        return None

    def put(self, table: Table, values: tuple[Any, ...]) -> None:
        """One row, its values in the order given to ``columns``."""
        converters = self.layouts[table][2]
        if converters:
            listed = list(values)
            for index, convert in converters:
                listed[index] = convert(listed[index])
            values = tuple(listed)
        rows = self.rows[table]
        rows.append(values)
        if len(rows) >= self.chunk:
            self.flush()

    def add(self, table: Table, row: dict[str, Any]) -> None:
        """One row given as a dict (for the small tables); columns are taken from the first."""
        if table not in self.layouts:
            self.columns(table, list(row))
        self.put(table, tuple(map(row.get, self.layouts[table][1])))

    def flush(self) -> None:
        """Hand every table's collected rows to the writing thread."""
        if self.error is not None:
            raise self.error
        for name, rows in self.rows.items():
            if rows:
                self.pending.put((self.layouts[name][0], rows))
                self.written[name.name] += len(rows)
                self.rows[name] = []

    def wait(self) -> None:
        """Flush and return once everything is written; raises what the writing failed with."""
        self.flush()
        self.pending.join()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Stop the writing thread (after ``wait``, or to abandon what is queued)."""
        if self.thread.is_alive():
            self.pending.put(None)
            self.thread.join()

    def __enter__(self) -> BulkWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
