"""HTTP load from separate processes: N concurrent clients over keep-alive connections.

Each client sends requests back to back for a fixed time and records status codes and
latencies. Kept free of the app's imports so the driver costs as little as possible:
each driver process runs its clients in one event loop over plain sockets (HTTP/1.1
with keep-alive; what it reads of an answer is its status, its length and, for an
error, its code).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import resource
import selectors
import socket
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
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
REPLY_TIMEOUT = 30.0  # seconds without any answer before a driver gives up


@dataclass
class Result:
    codes: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    requests: int = 0
    elapsed: float = 0.0
    driver_cpu: float = 0.0  # CPU seconds (user + system) the driver processes used


class _Client:
    """One keep-alive connection and the request it is waiting on."""

    __slots__ = ("began", "buffer", "n", "sock")

    def __init__(self, address: tuple[str, int], n: int) -> None:
        self.sock = socket.create_connection(address, timeout=REPLY_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.n = n
        self.began = 0.0
        self.buffer = b""


def pick(skus: list[str], n: int) -> str:
    """The plan request ``n`` orders: one of ``skus`` at random, the same for the same n.

    Not ``skus[n % len(skus)]``: a client's numbers run one after another, and its first
    number is a multiple of the plan count, so every client would order the plans in the
    same sequence. The clients answered together by one batch would then move on to the
    same next plan together, a convoy that sold like one hot plan moving round the 50."""
    return skus[zlib.crc32(n.to_bytes(8, "little")) % len(skus)]


def _request(kind: str, skus: list[str], n: int, host: str) -> bytes:
    if kind == "get":
        return f"GET {skus[0]} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    body = order_body(pick(skus, n), n)
    head = (
        f"POST /api/orders HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Idempotency-Key: b-{n}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _reply(buffer: bytes) -> tuple[int, bytes, bool, int] | None:
    """(status, body, the server keeps the connection, bytes used) of the first whole
    response in ``buffer``, or None while it is incomplete. The app's answers carry a
    Content-Length (Flask sets one on every response it builds)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buffer[:end].decode("latin-1").split("\r\n")
    fields = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in head[1:])}
    length = int(fields["content-length"])
    if len(buffer) < end + 4 + length:
        return None
    keep = fields.get("connection", "").lower() != "close"
    return int(head[0].split()[1]), buffer[end + 4 : end + 4 + length], keep, end + 4 + length


def _process(
    args: tuple[str, str, list[str], float, int, int],
) -> tuple[Counter[str], dict[str, list[float]], float]:
    """``clients`` clients in one thread: each sends its next request as soon as its last
    answer is in. One event loop rather than a thread per client: a driver's threads
    would take turns for its GIL, and its CPU is CPU the server does not get (the two
    share this machine's cores)."""
    url, kind, skus, seconds, clients, base = args
    started = resource.getrusage(resource.RUSAGE_SELF)
    target = urlparse(url)
    address = (target.hostname or "127.0.0.1", target.port or 80)
    host = f"{address[0]}:{address[1]}"
    codes: Counter[str] = Counter()
    latencies: dict[str, list[float]] = {}
    selector = selectors.DefaultSelector()
    deadline = time.perf_counter() + seconds

    def send(client: _Client) -> None:
        client.n += 1
        request = _request(kind, skus, client.n, host)
        client.began = time.perf_counter()
        client.sock.sendall(request)

    def record(code: str, client: _Client) -> None:
        codes[code] += 1
        latencies.setdefault(code, []).append(time.perf_counter() - client.began)

    def start(n: int) -> None:
        client = _Client(address, n)
        selector.register(client.sock, selectors.EVENT_READ, client)
        send(client)

    def stop(client: _Client) -> None:
        selector.unregister(client.sock)
        client.sock.close()

    for i in range(clients):
        start(base + i * THREAD_SPAN)
    while selector.get_map():
        ready = selector.select(timeout=REPLY_TIMEOUT)
        if not ready:  # the server stopped answering: every open request is an error
            for key in list(selector.get_map().values()):
                record("error timeout", key.data)
                stop(key.data)
            break
        for key, _ in ready:
            client: _Client = key.data
            try:
                data = client.sock.recv(65536)
                if not data:
                    raise ConnectionResetError("closed by the server")
                client.buffer += data
                reply = _reply(client.buffer)
                if reply is None:
                    continue
                status, body, keep, used = reply
                client.buffer = client.buffer[used:]
                code = str(status)
                if status >= 400 and kind != "get":
                    with contextlib.suppress(ValueError, KeyError):
                        code = f"{status} {json.loads(body)['error']}"
                record(code, client)
            except (OSError, ValueError, KeyError) as error:
                record(f"error {type(error).__name__}", client)
                keep = False
            if not keep:
                stop(client)
                if time.perf_counter() < deadline:
                    start(client.n)
            elif time.perf_counter() < deadline:
                send(client)
            else:
                stop(client)
    selector.close()
    ended = resource.getrusage(resource.RUSAGE_SELF)
    cpu = ended.ru_utime - started.ru_utime + ended.ru_stime - started.ru_stime
    return codes, latencies, cpu


def drive(url: str, kind: str, skus: list[str], *, clients: int, seconds: float, processes: int, seed: int) -> Result:
    """Run ``clients`` clients spread over ``processes`` driver processes."""
    processes = max(1, min(processes, clients))
    per = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    assert processes * PROCESS_SPAN <= ROW_SPAN and max(per) * THREAD_SPAN <= PROCESS_SPAN
    jobs = [(url, kind, skus, seconds, threads, seed + i * PROCESS_SPAN) for i, threads in enumerate(per)]
    result = Result()
    began = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        for codes, latencies, cpu in pool.map(_process, jobs):
            result.driver_cpu += cpu
            result.codes.update(codes)
            for code, values in latencies.items():
                result.latencies.setdefault(code, []).extend(values)
    result.elapsed = time.perf_counter() - began
    result.requests = sum(result.codes.values())
    return result
