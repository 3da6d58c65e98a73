"""Who is logged in: one Flask-Login manager for every kind of account.

A session stores a prefixed id ("agent:<id>"); ``loaders`` maps the prefix to a
function that loads that kind of account, so the ops console adds "admin" here
without a second login manager.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, redirect, request, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from itsdangerous import URLSafeTimedSerializer

from .extensions import db, login_manager
from .models import Agent

F = TypeVar("F", bound=Callable[..., Any])


def load_agent(raw_id: str) -> Agent | None:
    agent = db.session.get(Agent, int(raw_id)) if raw_id.isdigit() else None
    return agent if agent is not None and agent.active else None


loaders: dict[str, Callable[[str], Any]] = {"agent": load_agent}


@login_manager.user_loader
def load_user(user_id: str) -> Any:
    kind, _, raw_id = user_id.partition(":")
    loader = loaders.get(kind)
    return loader(raw_id) if loader is not None else None


def current_agent() -> Agent:
    """The logged-in agent (only inside views guarded by ``agent_required``)."""
    return cast(Agent, current_user._get_current_object())  # type: ignore[attr-defined]


def agent_required(view: F) -> F:
    """Let only a logged-in, active agent in; everyone else goes to the agent login."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        user = current_user
        if not user.is_authenticated or not isinstance(user._get_current_object(), Agent):  # type: ignore[attr-defined]
            return redirect(url_for("agent.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return cast(F, wrapped)


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built once per set of
    keys rather than on every request. Building one serialises a probe value to learn
    its output type: measured under load, a few percent of a worker's time on short
    answers (an order, a health check). The serializer keeps no state between calls."""

    def __init__(self) -> None:
        self._serializers: dict[tuple[Any, ...], URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        try:
            return self._serializers[keys]
        except KeyError:
            serializer = self._serializers[keys] = super().get_signing_serializer(app)
            return serializer


def init_app(app: Flask) -> None:
    """Bind the login manager and harden the session cookie."""
    app.session_interface = SessionInterface()
    login_manager.init_app(app)
    login_manager.login_view = "agent.login"
    login_manager.login_message = "请先登录"
    login_manager.session_protection = "basic"
    secure = bool(app.config.get("COOKIE_SECURE", True))
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
    )
