"""RowInsert, the batches' inserts: it stores what SQLAlchemy's own insert stores (on
SQLite, in multi-row chunks, and with ``make test-pg`` PostgreSQL), in the rows' order,
and it fills in no default."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Table, insert, select, text

from cardshop.extensions import db
from cardshop.models import Order, StockEntry
from cardshop.models.inserts import RowInsert
from cardshop.services.orders import INSERT_ORDERS

STOCK_ENTRIES = cast(Table, StockEntry.__table__)
INSTANT = datetime(2026, 12, 2, 8, 30, 1, 123456, tzinfo=UTC)


def entry(product_id: int, note: str, created_at: datetime) -> dict[str, object]:
    return {
        "product_id": product_id,
        "kind": "sale",
        "qty": -1,
        "available_after": 3,
        "actor": "order",
        "note": note,
        "order_id": None,
        "created_at": created_at,
    }


@pytest.mark.parametrize("count", [1, 3, 11, 70])  # 70 rows: chunks of 64, 4 and 2 on SQLite
def test_rows_are_stored_as_sqlalchemy_stores_them(make_product, count: int) -> None:
    product = make_product("P-1", stock_total=0)
    elsewhere = INSTANT.astimezone(ZoneInfo("Asia/Shanghai"))  # the same instant, another zone
    rows = [entry(product.id, f"n-{i}", INSTANT if i % 2 else elsewhere) for i in range(count)]
    connection = db.session.connection()
    connection.execute(insert(STOCK_ENTRIES), rows)
    RowInsert(STOCK_ENTRIES, list(rows[0])).run(connection, rows)

    raw = connection.execute(
        text(
            "SELECT product_id, kind, qty, available_after, order_id, actor, note, created_at"
            " FROM stock_entries WHERE kind = 'sale' ORDER BY id"
        )
    ).all()
    assert raw[count:] == raw[:count]  # the very values the database holds, text on SQLite, in order
    read = db.session.scalars(select(StockEntry.created_at).where(StockEntry.kind == "sale")).all()
    assert read == [INSTANT] * (2 * count)


def test_every_defaulted_or_required_column_must_be_given() -> None:
    with pytest.raises(ValueError, match="request_fingerprint") as refused:
        RowInsert(cast(Table, Order.__table__), ["order_no", "idempotency_key", "product_id"])
    for named in ("status", "updated_at", "created_at", "customer_name"):
        assert named in str(refused.value)
    assert "msisdn" not in str(refused.value)  # nullable, no default: left NULL
    assert "id" not in str(refused.value).split(", ")  # the key is the database's


def test_a_plain_order_row_names_every_column_but_the_key() -> None:
    table = cast(Table, Order.__table__)
    assert set(INSERT_ORDERS.columns) == {column.name for column in table.columns} - {"id"}


def test_sqlite_chunks_are_powers_of_two_that_fit_one_statement() -> None:
    for insert_rows in (RowInsert(STOCK_ENTRIES), INSERT_ORDERS):
        sizes = set()
        for count in range(1, 300):
            left, chunks = count, []
            while left:
                chunks.append(insert_rows._chunk(left))
                left -= chunks[-1]
            assert chunks == sorted(chunks, reverse=True)
            sizes.update(chunks)
        assert all(size & (size - 1) == 0 for size in sizes)  # a few texts for the statement cache
        assert max(sizes) * len(insert_rows.columns) <= 999
