"""gunicorn.conf.py's worker hooks, run in a fresh interpreter the way a worker runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cardshop import PROJECT_ROOT

WORKER = """
import gc, json, runpy, sys
conf = runpy.run_path("gunicorn.conf.py")
conf["post_fork"](None, None)
import wsgi  # the app, loaded as a worker loads it
before = gc.get_freeze_count()
conf["post_worker_init"](None)
print(json.dumps({"before": before, "frozen": gc.get_freeze_count(), "switch": sys.getswitchinterval()}))
"""


def test_a_worker_moves_what_it_loaded_out_of_the_collectors_way(tmp_path: Path) -> None:
    # Unfrozen, every full collection in a loaded worker walked the whole app (50-110 ms
    # with the GIL held, four times in half a minute of a flash sale).
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CARDSHOP_SWITCH_INTERVAL")},
        "CARDSHOP_INSTANCE_PATH": str(tmp_path),
        "CARDSHOP_METRICS_DIR": str(tmp_path / "metrics"),
        "REDIS_URLS": "redis://127.0.0.1:1,redis://127.0.0.1:2,redis://127.0.0.1:3",  # never called
    }
    out = subprocess.run(
        [sys.executable, "-c", WORKER], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    seen = json.loads(out.splitlines()[-1])
    assert seen["before"] == 0
    assert seen["frozen"] > 10_000  # the modules, the app, its mappers: about 110,000 objects
    assert seen["switch"] == 0.001
