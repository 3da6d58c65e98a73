"""cardshop: a 号卡分销系统 whose stock path cannot oversell.

``create_app`` reads as a table of contents: configuration, extensions, blueprints,
error handlers, commands.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable
from inspect import iscoroutinefunction
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from . import auth, config, logs, observability, runtime
from .agent import bp as agent_bp
from .api import bp as api_bp
from .cli import cardshop_cli
from .extensions import csrf, db, limiter, migrate
from .handlers import register_errorhandlers
from .health import bp as health_bp
from .ops import bp as ops_bp
from .passwords import hasher
from .services import commissions
from .shop import bp as shop_bp

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def instance_path() -> Path:
    """Where the SQLite database, the secret key and ``make run``'s nodes live."""
    return Path(os.environ.get("CARDSHOP_INSTANCE_PATH") or PROJECT_ROOT / "instance")


class CardshopFlask(Flask):
    """Flask, remembering which functions are coroutine functions.

    For every request Flask asks :meth:`ensure_sync` about each hook it runs and the
    view (about ten functions for a plain GET), and each time inspect unwraps the
    function and reads its code flags (1.8% of a healthz's instructions). A function's
    answer cannot change, so it is kept, weakly, beside the function (a bound method
    is asked about through its function, which gives the same answer)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._is_async: weakref.WeakKeyDictionary[Callable[..., Any], bool] = weakref.WeakKeyDictionary()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        key = getattr(func, "__func__", func)
        try:
            is_async = self._is_async[key]
        except KeyError:
            is_async = self._is_async[key] = iscoroutinefunction(func)  # Flask's own test
        except TypeError:  # not weakly referable (a builtin): asked every time
            return super().ensure_sync(func)
        return self.async_to_sync(func) if is_async else func


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = CardshopFlask(__name__, instance_path=str(instance_path()), instance_relative_config=True)
    configure(app, overrides)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def configure(app: Flask, overrides: dict[str, Any] | None) -> None:
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    settings = config.load(app.instance_path, overrides)
    app.config.update(settings)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = config.ensure_secret_key(app.instance_path)
    database_url = settings["DATABASE_URL"] or f"sqlite:///{Path(app.instance_path) / 'cardshop.db'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url
    # One pooled connection per request thread (gunicorn.conf.py's threads), so a busy
    # worker does not open and close overflow connections on every request.
    pool: dict[str, Any] = {"pool_size": settings["DB_POOL_SIZE"], "max_overflow": 10}
    if database_url.startswith("sqlite"):
        in_memory = database_url in ("sqlite://", "sqlite:///:memory:")
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}, **({} if in_memory else pool)}
    else:
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, **pool}
    app.config["MAX_CONTENT_LENGTH"] = settings["MAX_BODY_BYTES"]
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")  # holds and shop attribution ride on cookies
    logs.configure(json_lines=app.config["LOG_JSON"], level=logging.INFO)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers work beside the one writer; busy_timeout waits for the writer."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    runtime.init_app(app)
    auth.init_app(app)
    commissions.configure(app.config)
    hasher.configure(time_cost=app.config["PASSWORD_TIME_COST"], memory_kib=app.config["PASSWORD_MEMORY_KIB"])
    logs.init_app(app)
    observability.init_app(app)


def register_blueprints(app: Flask) -> None:
    csrf.exempt(api_bp)  # JSON clients send no cookies to forge; they authenticate otherwise
    for blueprint in (health_bp, api_bp, shop_bp, agent_bp, observability.bp, ops_bp):
        app.register_blueprint(blueprint)


def register_commands(app: Flask) -> None:
    app.cli.add_command(cardshop_cli)
