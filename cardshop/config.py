"""The one source of configuration.

Layers, lowest first: the defaults below < ``instance/config.py`` < the environment
(``DATABASE_URL``, ``REDIS_URLS``, ``SECRET_KEY`` and ``CARDSHOP_<NAME>`` for the rest)
< overrides passed to ``create_app``. Every value is parsed and checked here, at
start-up, so a malformed setting stops the app with a message naming it.
"""

from __future__ import annotations

import os
import runpy
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .errors import ConfigError

# name -> (default, parser). Names are Flask config keys; the environment spells them
# CARDSHOP_<NAME> unless listed in _PLAIN_ENV.
Parser = Callable[[str], Any]


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true/false, got {raw!r}")


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _int_list(raw: str) -> list[int]:
    return [int(part) for part in raw.split(",") if part.strip()]


def parse_redis_urls(raw: str) -> list[str]:
    """Split a comma-separated list of Redis URLs; an odd number, at least three."""
    urls = [part.strip() for part in raw.split(",") if part.strip()]
    if len(urls) < 3 or len(urls) % 2 == 0:
        raise ValueError(f"needs an odd number of at least 3 Redis URLs (the quorum is a majority), got {len(urls)}")
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme not in {"redis", "rediss", "unix"} or not (parsed.hostname or parsed.path):
            raise ValueError(f"{url!r} is not a redis:// URL")
    if len(set(urls)) != len(urls):
        raise ValueError("lists the same node twice; the nodes must be independent")
    return urls


def _database_url(raw: str) -> str:
    url = raw.strip()
    if url.startswith("postgres://"):  # Heroku-style spelling
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if "://" not in url:
        raise ValueError(f"{raw!r} is not a database URL")
    return url


SETTINGS: dict[str, tuple[Any, Parser]] = {
    # None means "embedded": SQLite in instance/, three local redis-server processes.
    "DATABASE_URL": (None, _database_url),
    "REDIS_URLS": (None, parse_redis_urls),
    "SECRET_KEY": (None, str),
    # Stock path.
    "LOCK_TTL": (5.0, _positive_float),  # seconds before a lock releases itself
    "LOCK_WAIT": (0.8, _positive_float),  # longest wait for a product lock
    "LOCK_RETRY_MAX": (0.002, _positive_float),  # upper bound of the jittered pause
    "LOCK_LEASE": (0.03, _positive_float),  # longest a process keeps a product's lock for batches queued meanwhile
    # How long a process answers a sold-out plan from memory after a majority of nodes
    # said nothing is left (cardshop/stock/soldout.py); 0 reads the nodes every time.
    "SOLD_OUT_LEASE": (0.05, _non_negative_float),
    # Time each step of every sale (cardshop_stock_step_seconds; about 2% of a batch's
    # instructions): for profiling, e.g. `make bench BENCH_ARGS=--steps`.
    "STOCK_STEP_TIMING": (False, _bool),
    "REDIS_SOCKET_TIMEOUT": (0.25, _positive_float),
    "REDIS_CONNECT_TIMEOUT": (0.25, _positive_float),
    "DB_POOL_SIZE": (32, _positive_int),  # database connections kept per process (one per thread)
    "MAX_QTY": (5, _positive_int),  # most cards one order may carry
    "MAX_BODY_BYTES": (16 * 1024, _positive_int),
    # Numbers and holds.
    "HOLD_SECONDS": (600, _positive_int),
    # Risk rules.
    "RISK_WINDOW_DAYS": (30, _positive_int),
    "RISK_MAX_LIVE_PER_CARRIER": (5, _positive_int),
    # Shop attribution.
    "SHOP_COOKIE_DAYS": (30, _positive_int),
    # Agents, commissions, withdrawals.
    "LEVEL_THRESHOLDS": ([50, 1000, 4000], _int_list),
    "PEER_REWARD_POINTS": (1, int),
    "PEER_REWARD_FEN": (0, int),
    "WITHDRAW_MIN_FEN": (1000, _positive_int),
    "WITHDRAW_FEE_PERMILLE": (60, int),
    "WITHDRAW_INTERVAL_DAYS": (7, int),
    "LOGIN_MAX_FAILURES": (5, _positive_int),
    "PASSWORD_TIME_COST": (3, _positive_int),  # argon2id; lower only in tests
    "PASSWORD_MEMORY_KIB": (65536, _positive_int),
    "LOGIN_LOCK_MINUTES": (30, _positive_int),
    "SETTLE_AFTER_MONTHS": (1, int),  # commission settles at the end of the month N months after activation
    "COOKIE_SECURE": (True, _bool),  # session cookies only over HTTPS (browsers treat localhost as secure)
    "PUBLIC_URL": ("", str),  # base of shop links and QR codes; empty: the URL the request came in on
    # Upstream.
    "UPSTREAM_SECRET": ("dev-upstream-secret", str),
    "UPSTREAM_URL": ("", str),
    "UPSTREAM_ADAPTER": ("", str),  # http | manual; empty: http when UPSTREAM_URL is set
    "UPSTREAM_TIMEOUT": (5.0, _positive_float),  # seconds per HTTP call
    "UPSTREAM_RETRIES": (3, int),  # extra attempts after a timeout, 429 or 5xx
    "UPSTREAM_BACKOFF": (0.5, _positive_float),  # first pause between attempts; doubles
    # Logging and metrics.
    "LOG_JSON": (True, _bool),
    "METRICS_DIR": ("", str),
    "METRICS_TOKEN": ("", str),  # when set, /metrics wants "Authorization: Bearer <token>"
    "RATELIMIT_ENABLED": (True, _bool),
    "RATELIMIT_STORAGE_URI": ("memory://", str),
    "LOOKUP_RATE_LIMIT": ("10 per minute", str),  # order lookups per client address
    "HOLD_RATE_LIMIT": ("30 per minute", str),  # number holds per client address (against hoarding)
}

# Settings read from the environment under their own name, not CARDSHOP_<NAME>.
_PLAIN_ENV = {"DATABASE_URL", "REDIS_URLS", "SECRET_KEY"}


def env_name(name: str) -> str:
    return name if name in _PLAIN_ENV else f"CARDSHOP_{name}"


def load(
    instance_path: str, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return the validated configuration as a dict of Flask config keys."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {name: default for name, (default, _) in SETTINGS.items()}

    instance_file = Path(instance_path) / "config.py"
    if instance_file.exists():
        namespace = runpy.run_path(str(instance_file))
        values.update({k: v for k, v in namespace.items() if k.isupper()})

    for name, (_, parse) in SETTINGS.items():
        raw = environ.get(env_name(name))
        if raw is None:
            continue
        try:
            values[name] = parse(raw)
        except ValueError as error:
            raise ConfigError(f"{env_name(name)}: {error}") from None

    values.update(overrides or {})
    _check(values)
    return values


def _check(values: dict[str, Any]) -> None:
    """Re-check values that came from instance/config.py or overrides as Python objects."""
    urls = values.get("REDIS_URLS")
    if isinstance(urls, str):
        urls = values["REDIS_URLS"] = _reparse("REDIS_URLS", parse_redis_urls, urls)
    elif urls is not None:
        values["REDIS_URLS"] = _reparse("REDIS_URLS", parse_redis_urls, ",".join(urls))
    if values.get("DATABASE_URL"):
        values["DATABASE_URL"] = _reparse("DATABASE_URL", _database_url, values["DATABASE_URL"])
    for name, (default, parse) in SETTINGS.items():
        value = values.get(name)
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(f"{env_name(name)}: expected a number, got {value!r}")
            if parse in (_positive_float, _positive_int) and value <= 0:
                raise ConfigError(f"{env_name(name)}: must be greater than 0")
            if parse is _non_negative_float and value < 0:
                raise ConfigError(f"{env_name(name)}: must be 0 or more")
    if values["LOCK_LEASE"] * 10 > values["LOCK_TTL"]:
        raise ConfigError(f"{env_name('LOCK_LEASE')} must be at most a tenth of {env_name('LOCK_TTL')}")
    if values["SOLD_OUT_LEASE"] * 10 > values["LOCK_TTL"]:
        raise ConfigError(f"{env_name('SOLD_OUT_LEASE')} must be at most a tenth of {env_name('LOCK_TTL')}")
    if values["LOCK_WAIT"] >= values["LOCK_TTL"]:
        raise ConfigError(f"{env_name('LOCK_WAIT')} must be shorter than {env_name('LOCK_TTL')}")


def _reparse(name: str, parse: Parser, raw: str) -> Any:
    try:
        return parse(raw)
    except ValueError as error:
        raise ConfigError(f"{env_name(name)}: {error}") from None


def ensure_secret_key(instance_path: str) -> str:
    """The embedded default: a random key kept in instance/ so sessions survive restarts."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
