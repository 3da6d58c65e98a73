"""Who is logged in: one Flask-Login manager for every kind of account.

A session stores a prefixed id ("agent:<id>", "admin:<id>"); ``loaders`` maps the
prefix to a function that loads that kind of account (the ops console registers
"admin" in cardshop/ops/access.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .extensions import login_manager

loaders: dict[str, Callable[[str], Any]] = {}


@login_manager.user_loader
def load_user(user_id: str) -> Any:
    kind, _, raw_id = user_id.partition(":")
    loader = loaders.get(kind)
    return loader(raw_id) if loader is not None else None
