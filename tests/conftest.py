"""Fixtures: three real Redis nodes, a real database, the app, gunicorn, factories.

Tests never touch the Redis on 6379: every test gets its own three nodes on free
ports. The database is a SQLite file per test, or, with CARDSHOP_TEST_DB=postgresql,
a fresh PostgreSQL database created for the run on the local server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, text

from cardshop import create_app, runtime
from cardshop.embedded import EmbeddedStack
from cardshop.extensions import db
from cardshop.models import Product
from cardshop.stock import StockService

from .support import Gunicorn, product_fields

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    if os.environ.get("CARDSHOP_TEST_DB") != "postgresql":
        yield None
        return
    import psycopg

    base = os.environ.get("CARDSHOP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"cardshop_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield base.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(tmp_path: Path, postgres_url: str | None) -> str:
    return postgres_url or f"sqlite:///{tmp_path / 'cardshop.db'}"


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[EmbeddedStack]:
    with EmbeddedStack(3, workdir=tmp_path / "redis") as stack:
        yield stack


@pytest.fixture
def app_config(nodes: EmbeddedStack, database_url: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "REDIS_URLS": nodes.urls,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "LOG_JSON": False,
        "PASSWORD_TIME_COST": 1,  # argon2id at its cheapest: tests check behaviour, not cost
        "PASSWORD_MEMORY_KIB": 1024,
    }


@pytest.fixture
def app(app_config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    monkeypatch.setenv("CARDSHOP_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("REDIS_URLS", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app(app_config)
    with app.app_context():
        fresh_schema()
        yield app
        db.session.remove()
        db.engine.dispose()
    runtime.runtime(app).close()


def fresh_schema() -> None:
    """An empty schema: SQLite gets a new file per test; PostgreSQL, one database per run,
    is emptied with TRUNCATE when the schema is already there (much faster than DROP)."""
    tables = db.metadata.sorted_tables
    if db.engine.dialect.name == "postgresql" and all(inspect(db.engine).has_table(t.name) for t in tables):
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        db.session.commit()
        return
    db.drop_all()
    db.create_all()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def stock(app: Flask) -> StockService:
    return runtime.stock()


@pytest.fixture
def make_product(app: Flask, stock: StockService):  # type: ignore[no-untyped-def]
    """Add a listed product and load its stock onto the nodes."""

    def make(sku: str = "T-1", stock_total: int = 10, **overrides: Any) -> Product:
        product = Product(**product_fields(sku, 0, **overrides))
        db.session.add(product)
        db.session.commit()
        if stock_total:
            stock.restock(sku, stock_total, actor="test")
        else:
            stock.reconcile()
        return db.session.get(Product, product.id)  # type: ignore[return-value]

    return make


@pytest.fixture
def gunicorn_env(nodes: EmbeddedStack, database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "REDIS_URLS": ",".join(nodes.urls),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "CARDSHOP_INSTANCE_PATH": str(tmp_path / "instance"),
        "CARDSHOP_RATELIMIT_ENABLED": "false",
        "CARDSHOP_PASSWORD_TIME_COST": "1",
        "CARDSHOP_PASSWORD_MEMORY_KIB": "1024",
    }


@pytest.fixture
def serve(gunicorn_env: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    """Start real gunicorn servers for the test; all are stopped at the end."""
    servers: list[Gunicorn] = []

    def start(workers: int = 4, **env: str) -> Gunicorn:
        server = Gunicorn({**gunicorn_env, **env}, workers=workers, log_dir=tmp_path).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
}


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def phone(browser):  # type: ignore[no-untyped-def]
    """A new phone-sized browser context (390x844, zh-CN); call it again for a second customer."""
    contexts = []

    def open_context(**options):  # type: ignore[no-untyped-def]
        context = browser.new_context(**{**PHONE, **options})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield open_context
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot(request):  # type: ignore[no-untyped-def]
    """Save a page's screenshot under tests/artifacts/ (git-ignored), named after the test."""

    def save(page, name: str) -> Path:  # type: ignore[no-untyped-def]
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
