"""The database schema comes from the migrations in migrations/ (Flask-Migrate).

``ensure_schema`` is what ``cardshop init-db`` and ``make run`` call: it creates an
empty database, upgrades an older one, and adopts one that was created from the
models directly (``create_all``, as early versions and the test fixtures do) when it
matches the models exactly, by stamping it with the latest revision. A database that
differs from the models and has no revision is refused rather than guessed at.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import stamp, upgrade
from sqlalchemy import inspect

from .errors import ConfigError
from .extensions import db


def ensure_schema() -> str:
    """Bring the database to the latest migration; returns what was done."""
    tables = inspect(db.engine)
    if tables.has_table("products") and not tables.has_table("alembic_version"):
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
        if differences:
            raise ConfigError(
                "the database has tables but no migration revision, and differs from the models "
                f"({len(differences)} differences); upgrade it by hand, then `flask --app wsgi db stamp head`"
            )
        stamp()
        return "adopted"
    upgrade()
    return "upgraded"
