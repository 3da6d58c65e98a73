"""Extension objects, created once and bound to the app in create_app."""

from __future__ import annotations

from typing import Any, cast

from flask import Response, current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, user_logged_in, user_logged_out
from flask_login.config import COOKIE_NAME
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from .models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()


class SessionSparingLoginManager(LoginManager):
    """Flask-Login's manager, whose remember-me pass after each request runs only on a
    request that has something for it.

    After every request Flask-Login looks into the session for a remember-me cookie to
    set or clear. Looking marks the session accessed, so every response (a health
    check, an API answer, a static file) went out with ``Vary: Cookie``, which keeps
    shared caches from storing it; the pass was 7% of a healthz's instructions, and
    the check below costs about half of that back. Flask-Login puts something there to
    act on only when a request logs someone in or out, or brings a remember cookie, or
    when ``REMEMBER_COOKIE_REFRESH_EACH_REQUEST`` is set; on those requests the pass
    runs, unchanged."""

    def _update_remember_cookie(self, response: Response) -> Response:
        config = current_app.config
        if (
            config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME) in request.environ.get("HTTP_COOKIE", "")
            or g.get("cardshop_login_changed")
            or config.get("REMEMBER_COOKIE_REFRESH_EACH_REQUEST")
        ):  # the raw header: a name found inside another cookie only means a pass for nothing
            return cast(Response, super()._update_remember_cookie(response))
        return response


@user_logged_in.connect
@user_logged_out.connect
def _note_login_change(_app: Any, **_extra: Any) -> None:
    g.cardshop_login_changed = True


login_manager = SessionSparingLoginManager()


class ViewLimiter(Limiter):
    """Flask-Limiter whose before-request pass runs only when some limit needs it.

    Flask-Limiter checks every request twice: once before the request, for the default,
    application-wide, blueprint and meta limits and the in-memory fallback, and again in
    each decorated view, for that view's own limits. cardshop declares its limits on
    views only (``@limiter.limit``, ``@limiter.shared_limit``), so the first pass found
    nothing on every request while costing about a third of a healthz answer's CPU
    (100 of 310 us in one thread). It still runs, unchanged, as soon as a limit of one
    of those kinds is configured (``RATELIMIT_DEFAULT``, ``RATELIMIT_APPLICATION``,
    ``RATELIMIT_META``, ``RATELIMIT_IN_MEMORY_FALLBACK``, a blueprint limit)."""

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        if in_middleware and not self._limits_beyond_views():
            return
        super()._check_request_limit(callable_name=callable_name, in_middleware=in_middleware)

    def _limits_beyond_views(self) -> bool:
        manager: Any = self.limit_manager
        return bool(
            manager._default_limits
            or manager._application_limits
            or manager._blueprint_limits
            or self._meta_limits
            or self._in_memory_fallback
        )


limiter = ViewLimiter(key_func=get_remote_address, default_limits=[])
