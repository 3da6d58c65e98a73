"""What every request costs the app besides its own work: the access line and Flask's
question of whether each hook is a coroutine function. Both are made cheaper than the
library's own way, and must say exactly what the library's way says."""

from __future__ import annotations

import gc
import io
import json
import logging
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardshop import CardshopFlask
from cardshop.logs import JsonFormatter, RequestIdFilter, ScrubFilter, access_log, log_access


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.floats(min_value=0, max_value=4e9, allow_nan=False),
        # just below a whole second, where rounding to microseconds carries into it
        st.integers(min_value=0, max_value=4 * 10**9).map(lambda s: s + 0.9999996),
        st.integers(min_value=0, max_value=4 * 10**9).map(float),
    )
)
def test_the_timestamp_is_what_datetime_writes(created: float) -> None:
    formatter = JsonFormatter()
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert formatter.timestamp(created) == expected
    assert formatter.timestamp(created) == expected  # from the second's cached text


@pytest.fixture
def access_lines():  # type: ignore[no-untyped-def]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    handler.addFilter(ScrubFilter())
    level, propagate = access_log.level, access_log.propagate
    access_log.addHandler(handler)
    access_log.propagate = False
    access_log.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    access_log.removeHandler(handler)
    access_log.setLevel(level)
    access_log.propagate = propagate


def test_the_access_line_is_the_line_logger_info_would_write(access_lines) -> None:  # type: ignore[no-untyped-def]
    log_access("POST", "/api/orders/13812345678", 201, 0.0)
    access_log.info(
        "%s %s %s",
        "POST",
        "/api/orders/13812345678",
        201,
        extra={"method": "POST", "path": "/api/orders/13812345678", "status": 201, "duration_ms": 1.0},
    )
    ours, libraries = access_lines()
    for entry in (ours, libraries):
        entry.pop("ts"), entry.pop("duration_ms")
    assert ours == libraries
    assert ours["message"] == "POST /api/orders/138****5678 201"  # masked like any line
    assert ours["path"] == "/api/orders/138****5678"


def test_the_access_line_follows_the_loggers_level(access_lines) -> None:  # type: ignore[no-untyped-def]
    access_log.setLevel(logging.WARNING)
    log_access("GET", "/healthz", 200, 0.0)
    assert access_lines() == []


def test_ensure_sync_answers_as_flask_does_and_forgets_dropped_functions() -> None:
    app = CardshopFlask(__name__)
    wrapped = []
    app.async_to_sync = lambda func: wrapped.append(func) or "wrapped"  # type: ignore[method-assign]

    def plain() -> int:
        return 1

    async def coroutine() -> int:
        return 2

    class Hooks:
        def method(self) -> int:
            return 3

        async def async_method(self) -> int:
            return 4

    hooks = Hooks()
    for _ in range(2):  # asked, then remembered
        assert app.ensure_sync(plain) is plain
        assert app.ensure_sync(hooks.method) == hooks.method
        assert app.ensure_sync(len) is len  # a builtin cannot be remembered weakly
        assert app.ensure_sync(coroutine) == "wrapped"
        assert app.ensure_sync(hooks.async_method) == "wrapped"
    assert wrapped == [coroutine, hooks.async_method] * 2

    remembered = len(app._is_async)
    del plain
    gc.collect()
    assert len(app._is_async) == remembered - 1


def test_an_async_view_still_needs_flasks_async_extra() -> None:
    app = CardshopFlask(__name__)

    @app.get("/")
    async def index() -> str:
        return "hello"

    app.testing = True  # the view's error reaches the test
    with pytest.raises(RuntimeError, match="'async' extra"):  # not a coroutine returned as a response
        app.test_client().get("/")
