"""docker-compose.yml describes the production shape, wired correctly: three
independent Redis nodes each on its own volume, PostgreSQL, migrations before the
app, the app under gunicorn with a health check. (Docker does not run here; the
file is checked as data, with the same parsers the app uses for its settings.)"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from cardshop.config import _database_url, parse_redis_urls

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
FAKE_ENV = {"REDIS_PASSWORD": "r-pass", "POSTGRES_PASSWORD": "p-pass", "SECRET_KEY": "s"}


def interpolate(value: str) -> str:
    """Compose's ${NAME}, ${NAME:?message} and ${NAME:-default}, with FAKE_ENV."""
    return re.sub(r"\$\{(\w+)(?::[?-]([^}]*))?\}", lambda m: FAKE_ENV.get(m.group(1), m.group(2) or ""), value)


def redis_nodes() -> dict[str, dict]:  # type: ignore[type-arg]
    return {name: spec for name, spec in SERVICES.items() if spec.get("image", "").startswith("redis:")}


def test_three_redis_nodes_each_with_its_own_volume_and_a_stated_appendonly_choice() -> None:
    nodes = redis_nodes()
    assert sorted(nodes) == ["redis-1", "redis-2", "redis-3"]
    volumes = [spec["volumes"][0].split(":")[0] for spec in nodes.values()]
    assert len(set(volumes)) == 3 and set(volumes) <= set(COMPOSE["volumes"])
    for spec in nodes.values():
        command = spec["command"]
        assert command[command.index("--appendonly") + 1] in {"yes", "no"}
        assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
        assert "replicaof" not in " ".join(command), "the nodes are independent masters"
        assert spec["healthcheck"]["test"]
    assert "appendonly" in (ROOT / "docker-compose.yml").read_text().split("services:")[0], "the choice is explained"


def test_the_app_talks_to_exactly_those_nodes_and_postgres() -> None:
    env = SERVICES["app"]["environment"]
    urls = parse_redis_urls(interpolate(env["REDIS_URLS"]))
    assert sorted(re.search(r"@([\w-]+):6379", url).group(1) for url in urls) == sorted(redis_nodes())  # type: ignore[union-attr]
    database = _database_url(interpolate(env["DATABASE_URL"]))
    assert database.startswith("postgresql+psycopg://cardshop:p-pass@postgres:5432/")
    assert SERVICES["postgres"]["environment"]["POSTGRES_DB"] == database.rsplit("/", 1)[1]
    assert "postgres-data" in SERVICES["postgres"]["volumes"][0]
    assert SERVICES["migrate"]["environment"] == env, "migrations run against the same database"


def test_migrations_run_before_the_app_which_waits_for_every_dependency() -> None:
    assert SERVICES["migrate"]["command"] == ["flask", "--app", "wsgi", "db", "upgrade"]
    depends = SERVICES["app"]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    for name in [*redis_nodes(), "postgres"]:
        assert depends[name]["condition"] == "service_healthy", name
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_app_runs_under_gunicorn_with_a_health_check_and_multiprocess_metrics() -> None:
    app = SERVICES["app"]
    assert app["command"][:3] == ["gunicorn", "-c", "gunicorn.conf.py"]
    assert "/healthz" in " ".join(app["healthcheck"]["test"])
    assert app["environment"]["CARDSHOP_METRICS_DIR"] in app["tmpfs"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    for needed in ("requirements.txt", "gunicorn.conf.py", "migrations", "cardshop", "USER "):
        assert needed in dockerfile, needed
    assert (ROOT / "migrations" / "env.py").exists()
