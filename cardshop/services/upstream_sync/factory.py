"""Choosing the adapter from the configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import ConfigError
from .adapters import Adapter
from .http_json import HttpJsonAdapter
from .manual import ManualAdapter


def adapter_from_config(config: Mapping[str, Any]) -> Adapter:
    """The configured adapter: ``http`` when UPSTREAM_URL is set (or asked for), else ``manual``."""
    kind = config.get("UPSTREAM_ADAPTER") or ("http" if config.get("UPSTREAM_URL") else "manual")
    if kind == "manual":
        return ManualAdapter()
    if kind == "http":
        if not config.get("UPSTREAM_URL"):
            raise ConfigError("CARDSHOP_UPSTREAM_URL is required for the http upstream adapter")
        return HttpJsonAdapter(
            config["UPSTREAM_URL"],
            secret=config["UPSTREAM_SECRET"],
            timeout=config["UPSTREAM_TIMEOUT"],
            retries=config["UPSTREAM_RETRIES"],
            backoff=config["UPSTREAM_BACKOFF"],
        )
    raise ConfigError(f"CARDSHOP_UPSTREAM_ADAPTER: unknown adapter {kind!r} (http or manual)")
