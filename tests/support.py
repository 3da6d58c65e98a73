"""Factories and process helpers shared by the tests (imported by conftest and by
worker processes the race tests spawn)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import requests
from prometheus_client import REGISTRY

from cardshop.validation import id_check_char

ROOT = Path(__file__).resolve().parent.parent


def id_card(birth: str = "19900101", seq: str = "123", region: str = "110105") -> str:
    """A valid 18-character ID number for someone born on ``birth`` (YYYYMMDD)."""
    body = f"{region}{birth}{seq}"
    return body + id_check_char(body)


def customer_id_card(n: int) -> str:
    """A different ID number for every ``n`` below ten million (the risk rules allow one
    order per person and carrier a month): the birth day moves every thousand."""
    born = date(1970, 1, 1) + timedelta(days=n // 1000 % 10_000)
    return id_card(seq=f"{n % 1000:03d}", birth=f"{born:%Y%m%d}")


def order_payload(sku: str, n: int = 0, **overrides: Any) -> dict[str, Any]:
    """A valid order body; ``n`` varies the customer so risk rules see different people."""
    payload: dict[str, Any] = {
        "sku": sku,
        "qty": 1,
        "customer": {
            "name": "张三",
            "id_card": customer_id_card(n),
            "phone": f"138{n:08d}",
        },
        "address": {"province": "广东省", "city": "深圳市", "district": "南山区", "detail": "科技园科苑路15号"},
    }
    for key, value in overrides.items():
        if key in {"customer", "address"}:
            payload[key] = {**payload[key], **value}
        else:
            payload[key] = value
    return payload


PRODUCT_DEFAULTS: dict[str, Any] = dict(
    name="测试卡 29元",
    carrier="unicom",
    monthly_fee_fen=2900,
    fee_after_promo_fen=3900,
    promo_months=12,
    general_data_gb=100,
    directed_data_gb=30,
    voice_minutes=100,
    commission_fen=[5000, 6000, 7000, 8000],
)


def product_fields(sku: str, stock: int, **overrides: Any) -> dict[str, Any]:
    return {**PRODUCT_DEFAULTS, "sku": sku, "stock_total": stock, **overrides}


def race_worker(args: tuple[str, str, str, int, int]) -> list[int]:
    """One racing process: its own app, placing ``attempts`` orders for ``sku``."""
    redis_urls, database_url, sku, worker, attempts = args
    os.environ.pop("REDIS_URLS", None)
    from cardshop import create_app

    app = create_app({"REDIS_URLS": redis_urls, "DATABASE_URL": database_url, "LOCK_WAIT": 4.0, "LOCK_TTL": 10.0})
    client = app.test_client()
    codes = []
    for attempt in range(attempts):
        n = worker * 10_000 + attempt
        response = client.post("/api/orders", json=order_payload(sku, n), headers={"Idempotency-Key": f"r-{n}"})
        codes.append(response.status_code)
    return codes


class Gunicorn:
    """A real gunicorn serving wsgi:app on a free port with the given environment."""

    def __init__(
        self, env: dict[str, str], workers: int | None = 4, log_dir: Path | None = None, extra: list[str] | None = None
    ) -> None:
        from cardshop.embedded import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **env,
            "CARDSHOP_BIND": f"127.0.0.1:{self.port}",
            "PYTHONPATH": str(ROOT),
        }
        if workers:  # else gunicorn.conf.py's default
            self.env["CARDSHOP_WORKERS"] = str(workers)
        self.log_path = (log_dir or Path("/tmp")) / f"gunicorn-{self.port}.log"
        self.extra = extra or []
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Gunicorn:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(gunicorn), "-c", str(ROOT / "gunicorn.conf.py"), *self.extra],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not start: {self.log_path.read_text()[-3000:]}")

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], check=False, capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if hasattr(self, "log"):
            self.log.close()


def sample(name: str, **labels: str) -> float:
    """A metric's value in this process (0 before it was first counted)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
