"""A column compared with a list bound as one parameter, for the stock path's batches.

``column.in_(bindparam(name, expanding=True))`` renders one placeholder per value, so
SQLAlchemy rewrites the statement's text and parameters at every execution (its
"post-compile" step): a batch's risk screen and its orders' first events paid that
under the product's lock, three statements a batch. ``in_list(column, name)`` binds
the whole list as one value, and the statement's text is the same for every batch:

- SQLite: ``column IN (SELECT value FROM json_each(:name))``, the list sent as JSON
  text (SQLite's JSON functions, built in since 3.38);
- PostgreSQL: ``column = ANY(:name)``, the list sent as an array.

Both use the column's index as the expanding form does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean, Dialect, SQLColumnExpression, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import coercions, roles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import Text, TypeDecorator, TypeEngine

# One encoder, not json.dumps: with any option json.dumps builds an encoder per call (and
# pottery wraps it module-wide), and this runs under the product's lock.
_encode = json.JSONEncoder(ensure_ascii=False).encode


class ValueList(TypeDecorator[Sequence[Any]]):
    """A list of text values as one parameter: JSON text on SQLite, an array elsewhere."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(Text))
        return super().load_dialect_impl(dialect)

    def process_bind_param(self, value: Sequence[Any] | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return _encode(list(value))


class InList(ColumnElement[bool]):
    """``column`` is one of the values of the list bound as ``name``."""

    inherit_cache = True
    _is_implicitly_boolean = True  # a comparison: no "= 1" after it on SQLite
    type = Boolean()
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's own declaration is a list
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: SQLColumnExpression[Any], name: str) -> None:
        self.column = coercions.expect(roles.ExpressionElementRole, column)
        self.values = bindparam(name, type_=ValueList())


def in_list(column: SQLColumnExpression[Any], name: str) -> InList:
    return InList(column, name)


@compiles(InList)
def _in_json_each(element: InList, compiler: Any, **kw: Any) -> str:
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"{column} IN (SELECT value FROM json_each({values}))"  # noqa: S608 - compiled SQL, no input


@compiles(InList, "postgresql")
def _any_of_array(element: InList, compiler: Any, **kw: Any) -> str:
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"{column} = ANY({values})"
