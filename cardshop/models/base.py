"""Declarative base and the column helpers every model shares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeAlias

from sqlalchemy import DateTime, Dialect, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, scoped_session
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so migrations can alter them on both SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in storage; SQLite hands back naive values, so re-attach UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def is_disconnect(error: Exception) -> bool:
    """Whether a database error means the database is unavailable (not a refused row)."""
    return bool(getattr(error, "connection_invalidated", False)) or type(error).__name__ == "OperationalError"


def created_at_column() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, nullable=False)


# What services accept as a database session: a plain Session, or Flask-SQLAlchemy's
# scoped db.session (which proxies one).
DbSession: TypeAlias = Session | scoped_session[Any]


def end_reads(session: DbSession) -> None:
    """Roll back what ``session`` has read, without making a session to do so: most
    orders of a flash sale read nothing before their sale, and a scoped session that
    was never asked for is not built just to be rolled back."""
    if isinstance(session, scoped_session) and not session.registry.has():
        return
    session.rollback()
