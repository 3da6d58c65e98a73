"""``make run`` (cardshop.serve): what it starts, it stops, however it is told to."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from cardshop import PROJECT_ROOT
from cardshop.embedded import free_ports

pytestmark = pytest.mark.slow


def refuses(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_make_run_stops_gunicorn_and_the_embedded_nodes(tmp_path: Path, stop: signal.Signals) -> None:
    port = free_ports(1)[0]
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URLS", "DATABASE_URL", "CARDSHOP_METRICS_DIR")},
        "CARDSHOP_INSTANCE_PATH": str(tmp_path),
        "CARDSHOP_BIND": f"127.0.0.1:{port}",
        "CARDSHOP_WORKERS": "1",
        "CARDSHOP_THREADS": "2",
        "PYTHONUNBUFFERED": "1",
    }
    serve = subprocess.Popen(
        [sys.executable, "-m", "cardshop.serve"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(serve.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200
                break
            except OSError:
                assert serve.poll() is None, "".join(lines)
                assert time.monotonic() < deadline, "".join(lines)
                time.sleep(0.2)
        urls = next(line for line in lines if line.startswith("embedded Redis nodes: ")).split(": ", 1)[1]
        node_ports = [urlparse(url).port or 0 for url in urls.strip().split(",")]
        assert not any(refuses(node) for node in node_ports)
        serve.send_signal(stop)
        assert serve.wait(30) is not None
        reader.join(5)
        assert refuses(port), "gunicorn still serves"
        assert all(refuses(node) for node in node_ports), "".join(lines)
    finally:
        if serve.poll() is None:
            serve.terminate()
            try:
                serve.wait(30)
            except subprocess.TimeoutExpired:
                serve.kill()
