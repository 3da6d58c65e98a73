"""Rate limits of customer-facing actions, read from configuration at request time
(Flask-Limiter takes callables). Keyed by client address; with several gunicorn
workers or hosts, point RATELIMIT_STORAGE_URI at a shared store (a Redis URL)."""

from __future__ import annotations

from flask import current_app


def lookup_rate_limit() -> str:
    """Order lookups (phone + ID tail): slow enough that guessing ID tails is hopeless."""
    return str(current_app.config["LOOKUP_RATE_LIMIT"])


def hold_rate_limit() -> str:
    """Number holds: a customer picks a few numbers; a bot hoarding numbers is stopped."""
    return str(current_app.config["HOLD_RATE_LIMIT"])
