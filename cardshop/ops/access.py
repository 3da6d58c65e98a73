"""Who may use the console: operators (``Admin``) only.

Registers the "admin" kind with the shared Flask-Login loader (``auth.loaders``), so
an operator's session id is "admin:<id>" and can never load an agent, nor an agent's
an operator.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import abort, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from ..auth import loaders
from ..extensions import db
from ..models import Admin

F = TypeVar("F", bound=Callable[..., Any])


def load_admin(raw_id: str) -> Admin | None:
    admin = db.session.get(Admin, int(raw_id)) if raw_id.isdigit() else None
    return admin if admin is not None and admin.active else None


loaders["admin"] = load_admin


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
