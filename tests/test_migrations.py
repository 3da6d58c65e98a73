"""The schema comes from migrations, and the latest migration is the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from cardshop import create_app
from cardshop.extensions import db


@pytest.fixture
def empty_app(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nodes):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CARDSHOP_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "REDIS_URLS": nodes.urls, "LOG_JSON": False})
    with app.app_context():
        wipe()
        yield app
        wipe()
        db.engine.dispose()


def wipe() -> None:
    db.session.remove()
    db.drop_all()
    with db.engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


def test_upgrading_an_empty_database_gives_exactly_the_models(empty_app) -> None:
    upgrade()
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), db.metadata)
    assert differences == [], "models and migrations disagree: run `make migration` (see README)"
    tables = set(inspect(db.engine).get_table_names())
    assert {"products", "orders", "admins", "fulfilment_exports", "alembic_version"} <= tables


def test_the_migrations_go_down_and_up_again(empty_app) -> None:
    upgrade()
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade()
    assert "orders" in inspect(db.engine).get_table_names()


def test_init_db_runs_the_migrations(empty_app) -> None:
    result = empty_app.test_cli_runner().invoke(args=["cardshop", "init-db"])
    assert result.exit_code == 0, result.output
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    again = empty_app.test_cli_runner().invoke(args=["cardshop", "init-db"])
    assert again.exit_code == 0, again.output


def test_init_db_adopts_a_database_made_from_the_models_and_refuses_one_that_differs(empty_app) -> None:
    db.create_all()
    runner = empty_app.test_cli_runner()
    adopted = runner.invoke(args=["cardshop", "init-db"])
    assert adopted.exit_code == 0 and "schema adopted" in adopted.output
    wipe()
    db.create_all()
    with db.engine.begin() as connection:
        connection.execute(text("ALTER TABLE orders ADD COLUMN legacy_note VARCHAR(20)"))
    refused = runner.invoke(args=["cardshop", "init-db"])
    assert refused.exit_code != 0 and "differs from the models" in refused.output
