"""HTTP load from separate processes: N concurrent clients over keep-alive connections.

Each client sends requests back to back for a fixed time and records status codes and
latencies. Kept free of the app's imports so the driver costs as little as possible.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlparse

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"


PROVINCES = (
    11,
    12,
    13,
    14,
    15,
    21,
    22,
    23,
    31,
    32,
    33,
    34,
    35,
    36,
    37,
    41,
    42,
    43,
    44,
    45,
    46,
    50,
    51,
    52,
    53,
    54,
    61,
    62,
    63,
    64,
    65,
)
DISTINCT_IDS = 1000 * 10950 * len(PROVINCES)  # sequence x birth day x province


def id_card(n: int) -> str:
    """A distinct valid ID number for every n below DISTINCT_IDS (adults born 1970-1999),
    so the one-order-per-person risk rule never refuses a benchmark order."""
    birth = date(1970, 1, 1) + timedelta(days=(n // 1000) % 10950)
    province = PROVINCES[(n // (1000 * 10950)) % len(PROVINCES)]
    body = f"{province}0105{birth:%Y%m%d}{n % 1000:03d}"
    return body + CHECK[sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) % 11]


def order_body(sku: str, n: int) -> bytes:
    return json.dumps(
        {
            "sku": sku,
            "qty": 1,
            "customer": {"name": "张三", "id_card": id_card(n), "phone": f"13{n % 10**9:09d}"},
            "address": {"province": "广东省", "city": "深圳市", "district": "南山区", "detail": "科技园科苑路15号"},
        }
    ).encode()


# Request numbers: a row owns ROW_SPAN of them, a driver process PROCESS_SPAN, a client
# THREAD_SPAN, so every request of a run has its own key, phone and ID number.
THREAD_SPAN = 50_000
PROCESS_SPAN = 3_000_000
ROW_SPAN = 50_000_000


@dataclass
class Result:
    codes: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    requests: int = 0
    elapsed: float = 0.0


def _client(url: str, kind: str, skus: list[str], seconds: float, seed: int, out: list[Any]) -> None:
    target = urlparse(url)
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
    codes: Counter[str] = Counter()
    latencies: dict[str, list[float]] = {}
    n = seed
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        n += 1
        began = time.perf_counter()
        try:
            if kind == "get":
                conn.request("GET", skus[0])
            else:
                body = order_body(skus[n % len(skus)], n)
                conn.request(
                    "POST",
                    "/api/orders",
                    body=body,
                    headers={"Content-Type": "application/json", "Idempotency-Key": f"b-{n}"},
                )
            response = conn.getresponse()
            payload = response.read()
            code = str(response.status)
            if response.status >= 400 and kind != "get":
                try:
                    code = f"{response.status} {json.loads(payload)['error']}"
                except (ValueError, KeyError):
                    pass
        except (OSError, http.client.HTTPException) as error:
            code = f"error {type(error).__name__}"
            conn.close()
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        took = time.perf_counter() - began
        codes[code] += 1
        latencies.setdefault(code, []).append(took)
    conn.close()
    out.append((codes, latencies))


def _process(args: tuple[str, str, list[str], float, int, int]) -> tuple[Counter[str], dict[str, list[float]]]:
    url, kind, skus, seconds, threads, base = args
    out: list[Any] = []
    workers = [
        threading.Thread(target=_client, args=(url, kind, skus, seconds, base + i * THREAD_SPAN, out))
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    codes: Counter[str] = Counter()
    latencies: dict[str, list[float]] = {}
    for part_codes, part_latencies in out:
        codes.update(part_codes)
        for code, values in part_latencies.items():
            latencies.setdefault(code, []).extend(values)
    return codes, latencies


def drive(url: str, kind: str, skus: list[str], *, clients: int, seconds: float, processes: int, seed: int) -> Result:
    """Run ``clients`` clients spread over ``processes`` driver processes."""
    processes = max(1, min(processes, clients))
    per = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    assert processes * PROCESS_SPAN <= ROW_SPAN and max(per) * THREAD_SPAN <= PROCESS_SPAN
    jobs = [(url, kind, skus, seconds, threads, seed + i * PROCESS_SPAN) for i, threads in enumerate(per)]
    result = Result()
    began = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        for codes, latencies in pool.map(_process, jobs):
            result.codes.update(codes)
            for code, values in latencies.items():
                result.latencies.setdefault(code, []).extend(values)
    result.elapsed = time.perf_counter() - began
    result.requests = sum(result.codes.values())
    return result
