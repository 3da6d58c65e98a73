"""Who is logged in: one Flask-Login session for agents and operators.

Session ids are prefixed by kind ("agent:12", "admin:3"); each kind registers a
loader in ``loaders``, so an id of one kind can never load a user of another.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import abort, redirect, request, url_for
from flask_login import UserMixin, current_user
from werkzeug.wrappers import Response

from .extensions import db, login_manager
from .models import Admin

F = TypeVar("F", bound=Callable[..., Any])

loaders: dict[str, Callable[[int], UserMixin | None]] = {}


@login_manager.user_loader
def load_user(user_id: str) -> UserMixin | None:
    kind, _, raw = user_id.partition(":")
    loader = loaders.get(kind)
    if loader is None or not raw.isdigit():
        return None
    return loader(int(raw))


def _load_admin(admin_id: int) -> Admin | None:
    admin = db.session.get(Admin, admin_id)
    return admin if admin is not None and admin.active else None


loaders["admin"] = _load_admin


def current_admin() -> Admin | None:
    user = current_user._get_current_object() if current_user else None  # type: ignore[attr-defined]
    return user if isinstance(user, Admin) else None


def refuse_unless_admin() -> Response | None:
    """None for an operator; a redirect to the ops login for anonymous users; 403 for
    anyone else (an agent is logged in, but is not an operator)."""
    if not current_user.is_authenticated:
        target = request.full_path.rstrip("?") if request.method == "GET" else ""
        return redirect(url_for("ops.login", next=target or None))
    if current_admin() is None:
        abort(403)
    return None


def admin_required(view: F) -> F:
    """Operators only: anonymous users go to the ops login, anyone else gets 403."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        return refuse_unless_admin() or view(*args, **kwargs)

    return cast(F, guarded)
