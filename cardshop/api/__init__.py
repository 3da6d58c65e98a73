"""The JSON API under /api: parse input, call one service, serialise."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from . import numbers, orders, products, upstream  # noqa: E402,F401 - route modules attach to bp
