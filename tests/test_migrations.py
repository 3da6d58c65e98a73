"""The schema comes from migrations, and the latest migration is the models."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import insert, inspect, select, text

from cardshop import create_app
from cardshop.extensions import db
from cardshop.models import Order, OrderEvent, Product


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


def test_orders_activated_before_the_activation_column_get_their_event_time(empty_app) -> None:
    upgrade(revision="8e9a73e7eb8a")
    at = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    with db.engine.begin() as connection:
        connection.execute(insert(Product.__table__).values(**_required(Product, id=1, sku="M-1")))
        for order_id in (1, 2):
            order = _required(Order, id=order_id, order_no=f"o{order_id}", idempotency_key=f"o{order_id}", product_id=1)
            connection.execute(insert(Order.__table__).values(**order))
        # Order 1 was activated; order 2's activation was refused.
        for order_id, accepted in ((1, True), (2, False)):
            event = {"from_status": "shipped", "to_status": "activated", "accepted": accepted, "created_at": at}
            connection.execute(insert(OrderEvent.__table__).values(order_id=order_id, **event))
    upgrade()
    activated = dict(db.session.execute(select(Order.id, Order.activated_at)).all())
    assert activated == {1: at, 2: None}


def _required(model: type, **given: object) -> dict[str, object]:
    """``given``, and a zero or empty value for every other NOT NULL column without a default."""
    values = dict(given)
    for column in model.__table__.columns:  # type: ignore[attr-defined]
        if column.name not in values and not column.nullable and column.default is None and not column.primary_key:
            values[column.name] = 0 if column.type.python_type is int else ""
    return values
