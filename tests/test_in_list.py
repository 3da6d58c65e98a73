"""in_list, a column compared with a list bound as one parameter: the same rows as
SQLAlchemy's expanding IN (on SQLite and, with ``make test-pg``, PostgreSQL), whatever
the list holds, and one statement text for every list."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, event, select

from cardshop.extensions import db
from cardshop.models import BlockEntry
from cardshop.models.lists import in_list

STORED = ["110105199001011237", "13812345678", "O'Brien", "名单", "", "x" * 18]
BY_LIST = select(BlockEntry.value).where(in_list(BlockEntry.value, "values")).order_by(BlockEntry.value)
BY_EXPANDING = (
    select(BlockEntry.value).where(BlockEntry.value.in_(bindparam("values", expanding=True))).order_by(BlockEntry.value)
)


@pytest.fixture
def stored(app):  # type: ignore[no-untyped-def]
    db.session.add_all(BlockEntry(kind="phone", value=value) for value in STORED)
    db.session.commit()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from(STORED), st.text(max_size=18)), max_size=12))
def test_the_rows_are_those_of_an_expanding_in(stored, values: list[str]) -> None:  # type: ignore[no-untyped-def]
    values = [value.replace("\x00", "") for value in values]  # PostgreSQL text holds no NUL
    connection = db.session.connection()
    expected = connection.execute(BY_EXPANDING, {"values": values}).scalars().all()
    assert connection.execute(BY_LIST, {"values": values}).scalars().all() == expected


def test_every_list_runs_the_same_statement_text(stored) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    connection = db.session.connection()

    def remember(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(connection, "before_cursor_execute", remember)
    try:
        for values in (["13812345678"], STORED, []):
            connection.execute(BY_LIST, {"values": values})
    finally:
        event.remove(connection, "before_cursor_execute", remember)
    assert len(seen) == 3 and len(set(seen)) == 1


def test_a_negated_list_keeps_the_other_rows(stored) -> None:  # type: ignore[no-untyped-def]
    query = select(BlockEntry.value).where(~in_list(BlockEntry.value, "values"))
    rows = db.session.connection().execute(query, {"values": ["13812345678", "名单"]}).scalars().all()
    assert sorted(rows) == sorted(value for value in STORED if value not in ("13812345678", "名单"))
