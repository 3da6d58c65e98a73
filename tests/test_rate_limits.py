"""The limiter skips its before-request pass only when no limit needs it.

cardshop's own limits are on views (see test_shop_pages for the lookup and the holds);
these cases check the class on an app of its own, because Flask-Limiter keeps default
and application limits on the limiter object, and cardshop's limiter is shared by every
app a test process creates.
"""

from __future__ import annotations

import pytest
from flask import Flask

from cardshop.extensions import ViewLimiter


def limited_app(**config: object) -> tuple[Flask, ViewLimiter]:
    app = Flask(__name__)
    app.config.update(RATELIMIT_STORAGE_URI="memory://", **config)
    limiter = ViewLimiter(key_func=lambda: "one-client")

    @app.get("/plain")
    def plain() -> str:
        return "plain"

    @app.get("/guarded")
    @limiter.limit("2 per minute")
    def guarded() -> str:
        return "guarded"

    limiter.init_app(app)
    return app, limiter


def codes(app: Flask, path: str, times: int) -> list[int]:
    client = app.test_client()
    return [client.get(path).status_code for _ in range(times)]


def test_with_view_limits_only_the_before_request_pass_is_skipped(monkeypatch) -> None:
    app, limiter = limited_app()
    resolved: list[bool] = []
    original = limiter.limit_manager.resolve_limits

    def spy(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        resolved.append(bool(kwargs.get("in_middleware", args[4] if len(args) > 4 else False)))
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(limiter.limit_manager, "resolve_limits", spy)
    assert codes(app, "/plain", 5) == [200] * 5
    assert codes(app, "/guarded", 3) == [200, 200, 429]
    assert resolved and not any(resolved)  # only the views' own checks ran


@pytest.mark.parametrize(
    "config",
    [{"RATELIMIT_DEFAULT": "3 per minute"}, {"RATELIMIT_APPLICATION": "3 per minute"}],
    ids=["default", "application"],
)
def test_a_limit_beyond_the_views_still_applies_to_every_route(config: dict[str, str]) -> None:
    app, _ = limited_app(**config)
    assert codes(app, "/plain", 4) == [200, 200, 200, 429]


def test_a_blueprint_limit_still_applies() -> None:
    from flask import Blueprint

    app = Flask(__name__)
    app.config.update(RATELIMIT_STORAGE_URI="memory://")
    limiter = ViewLimiter(key_func=lambda: "one-client")
    shelf = Blueprint("shelf", __name__)

    @shelf.get("/shelf")
    def listing() -> str:
        return "shelf"

    limiter.limit("2 per minute")(shelf)
    app.register_blueprint(shelf)
    limiter.init_app(app)
    assert codes(app, "/shelf", 3) == [200, 200, 429]
