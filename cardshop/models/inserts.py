"""Many rows of one table in few statements, for the batches of the stock path."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Dialect, Table, insert

Params = Callable[[dict[str, Any]], Any]

# SQLite's smallest default limit of parameters in one statement (before 3.32); a
# chunk of rows stays under it whatever the build.
SQLITE_MAX_PARAMS = 999
MAX_CHUNK = 64  # rows in one SQLite statement: a batch's size (combine.MAX_BATCH)


class RowInsert:
    """Rows given as dicts with the same keys, inserted with a statement compiled once
    per dialect: the driver's executemany, or on SQLite a few multi-row statements.

    SQLAlchemy's own executemany handles every parameter of every row in Python (the
    compiled statement's parameter map, Python-side defaults, each value's type
    processing). In a flash sale its per-execution parameter work was nearly a third of
    the GIL time a batch held its product's lock for (py-spy ``--gil`` on a worker),
    about half of that the rows of a batch's orders and ledger lines (cProfile, one
    thread). Here the columns' bind processors are looked up once (the ones SQLAlchemy
    itself applies, so the stored values are the same) and each row becomes one tuple.
    No default is filled in: ``columns`` must name every column that has a Python-side
    default or may not be NULL, which is checked when the insert is built.

    On SQLite the rows go in as multi-row ``INSERT ... VALUES (...), (...)`` statements,
    in chunks of a power of two rows (eleven rows: 8, 2 and 1), so a table has at most
    seven statement texts for sqlite3's statement cache. sqlite3's executemany steps
    the statement once per row and gives up the GIL for each row's step and reset; the
    selling thread, which holds its product's lock and the database's one writer, then
    waits among the worker's request threads to get the GIL back, up to a switch
    interval each time (measured in one process: eleven rows and a commit beside 16
    busy threads took 3.0-3.5 ms with executemany against 2.0-2.3 ms in one
    statement; a batch of ten sold by the stock service, per order, 941,864 ->
    923,851 instructions). The rows get their ids in the same order either way."""

    def __init__(self, table: Table, columns: Sequence[str] | None = None) -> None:
        """``columns``: those the rows give; by default every column but the key."""
        if columns is None:
            columns = [column.name for column in table.columns if not column.primary_key]
        unnamed = [
            column.name
            for column in table.columns
            if column.name not in columns
            and not column.primary_key
            and column.server_default is None
            and (column.default is not None or not column.nullable)
        ]
        if unnamed:
            raise ValueError(f"rows for {table.name} must give {', '.join(unnamed)}")
        self.table = table
        self.columns = tuple(columns)
        self._chunk_most = max(1, min(MAX_CHUNK, SQLITE_MAX_PARAMS // len(self.columns)))  # rows a statement
        self._built: dict[str, tuple[str, Params]] = {}
        self._texts: dict[int, str] = {}  # SQLite: the statement for a chunk of this many rows

    def run(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        sql, params = self._built.get(connection.dialect.name) or self._build(connection.dialect)
        if connection.dialect.name != "sqlite":
            connection.exec_driver_sql(sql, [params(row) for row in rows])
            return
        values = [value for row in rows for value in params(row)]
        width = len(self.columns)
        done = 0
        while done < len(rows):
            size = self._chunk(len(rows) - done)
            connection.exec_driver_sql(self._multi(sql, size), tuple(values[done * width : (done + size) * width]))
            done += size

    def _chunk(self, left: int) -> int:
        """The largest power of two rows that is at most ``left`` and fits one statement."""
        return 1 << (min(left, self._chunk_most).bit_length() - 1)

    def _multi(self, sql: str, size: int) -> str:
        """``sql`` (one row's INSERT) for ``size`` rows."""
        built = self._texts.get(size)
        if built is None:
            head, _, row = sql.partition(" VALUES ")
            built = self._texts[size] = f"{head} VALUES {', '.join([row] * size)}"
        return built

    def _build(self, dialect: Dialect) -> tuple[str, Params]:
        compiled = insert(self.table).compile(dialect=dialect, column_keys=list(self.columns))
        # Positional drivers (sqlite3) take a tuple in the statement's order, the others
        # (psycopg) a dict by parameter name.
        names = list(compiled.positiontup or ()) if compiled.positional else list(compiled.binds)
        assert sorted(names) == sorted(self.columns), (names, self.columns)
        steps = [(name, self.table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names]

        def values(row: dict[str, Any]) -> list[Any]:
            return [row[name] if convert is None else convert(row[name]) for name, convert in steps]

        params: Params = (
            (lambda row: tuple(values(row)))
            if compiled.positional
            else (lambda row: dict(zip(names, values(row), strict=True)))
        )
        self._built[dialect.name] = built = (compiled.string, params)
        return built
