"""A missing or malformed setting stops the app at start-up, naming the setting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cardshop import create_app
from cardshop.config import load
from cardshop.errors import ConfigError

from .support import ROOT


def test_defaults_are_embedded(tmp_path) -> None:
    settings = load(str(tmp_path), environ={})
    assert settings["REDIS_URLS"] is None and settings["DATABASE_URL"] is None
    assert settings["LOCK_WAIT"] < settings["LOCK_TTL"]
    assert settings["SOLD_OUT_LEASE"] == 0.05
    assert load(str(tmp_path), environ={"CARDSHOP_SOLD_OUT_LEASE": "0"})["SOLD_OUT_LEASE"] == 0  # leases off


def test_environment_beats_instance_file(tmp_path) -> None:
    (tmp_path / "config.py").write_text("LOCK_WAIT = 0.5\nHOLD_SECONDS = 120\n")
    settings = load(str(tmp_path), environ={"CARDSHOP_HOLD_SECONDS": "60"})
    assert (settings["LOCK_WAIT"], settings["HOLD_SECONDS"]) == (0.5, 60)


def test_five_redis_urls_make_a_quorum_of_three(tmp_path) -> None:
    urls = ",".join(f"redis://127.0.0.1:{port}/0" for port in range(7001, 7006))
    assert len(load(str(tmp_path), environ={"REDIS_URLS": urls})["REDIS_URLS"]) == 5


def test_postgres_urls_use_psycopg3(tmp_path) -> None:
    settings = load(str(tmp_path), environ={"DATABASE_URL": "postgres://u@db/cardshop"})
    assert settings["DATABASE_URL"] == "postgresql+psycopg://u@db/cardshop"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"REDIS_URLS": "redis://a:1/0,redis://b:2/0"}, "REDIS_URLS"),
        ({"REDIS_URLS": "redis://a:1/0,redis://b:2/0,http://c:3/"}, "REDIS_URLS"),
        ({"REDIS_URLS": "redis://a:1/0,redis://a:1/0,redis://b:2/0"}, "REDIS_URLS"),
        ({"CARDSHOP_LOCK_WAIT": "soon"}, "CARDSHOP_LOCK_WAIT"),
        ({"CARDSHOP_LOCK_WAIT": "-1"}, "CARDSHOP_LOCK_WAIT"),
        ({"CARDSHOP_LOCK_WAIT": "9", "CARDSHOP_LOCK_TTL": "5"}, "CARDSHOP_LOCK_WAIT"),
        ({"CARDSHOP_MAX_QTY": "0"}, "CARDSHOP_MAX_QTY"),
        ({"CARDSHOP_SOLD_OUT_LEASE": "-0.1"}, "CARDSHOP_SOLD_OUT_LEASE"),
        ({"CARDSHOP_SOLD_OUT_LEASE": "1", "CARDSHOP_LOCK_TTL": "5"}, "CARDSHOP_SOLD_OUT_LEASE"),
        ({"DATABASE_URL": "cardshop.db"}, "DATABASE_URL"),
        ({"CARDSHOP_LOG_JSON": "maybe"}, "CARDSHOP_LOG_JSON"),
    ],
)
def test_malformed_settings_are_named(tmp_path, environ, named) -> None:
    with pytest.raises(ConfigError, match=named):
        load(str(tmp_path), environ=environ)


def test_overrides_are_checked_too(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CARDSHOP_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="REDIS_URLS"):
        create_app({"REDIS_URLS": ["redis://127.0.0.1:1/0"]})


def test_the_cli_refuses_to_start_with_two_nodes(tmp_path) -> None:
    env = {
        **os.environ,
        "REDIS_URLS": "redis://127.0.0.1:1/0,redis://127.0.0.1:2/0",
        "CARDSHOP_INSTANCE_PATH": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "cardshop", "init-db"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "REDIS_URLS" in result.stderr and "got 2" in result.stderr
