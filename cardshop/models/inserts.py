"""Many rows of one table in one executemany, for the batches of the stock path."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Dialect, Table, insert

Params = Callable[[dict[str, Any]], Any]


class RowInsert:
    """Rows given as dicts with the same keys, inserted with the driver's executemany
    of a statement compiled once per dialect.

    SQLAlchemy's own executemany handles every parameter of every row in Python (the
    compiled statement's parameter map, Python-side defaults, each value's type
    processing). In a flash sale its per-execution parameter work was nearly a third of
    the GIL time a batch held its product's lock for (py-spy ``--gil`` on a worker),
    about half of that the rows of a batch's orders and ledger lines (cProfile, one
    thread). Here the columns' bind processors are looked up once (the ones SQLAlchemy
    itself applies, so the stored values are the same) and each row becomes one tuple.
    No default is filled in: ``columns`` must name every column that has a Python-side
    default or may not be NULL, which is checked when the insert is built."""

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
        self._built: dict[str, tuple[str, Params]] = {}

    def run(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        sql, params = self._built.get(connection.dialect.name) or self._build(connection.dialect)
        connection.exec_driver_sql(sql, [params(row) for row in rows])

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
