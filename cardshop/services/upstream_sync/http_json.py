"""Upstream over HTTP with JSON bodies.

    POST {base}/orders          body: the order document; headers Idempotency-Key (the
                                order number) and X-Signature (HMAC-SHA256 of the body,
                                hex, with UPSTREAM_SECRET) -> 200/201 {"ref", "status"};
                                409 means "already have it" and counts as success
    GET  {base}/orders/{no}     X-Signature over the request path -> {"status", "courier",
                                "tracking_no", "reason"}; 404 when upstream never got it

Each call has a timeout; timeouts, connection errors, 429 and 5xx are retried with
exponential backoff and jitter. Because upstream keys orders by order number, a retry
after a timeout whose request did arrive creates nothing new.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ...models import Order
from .adapters import StatusReport, SubmitResult, UpstreamError, order_document

log = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}


class HttpJsonAdapter:
    name = "http"

    def __init__(self, base_url: str, *, secret: str, timeout: float, retries: int, backoff: float) -> None:
        scheme = urllib.parse.urlparse(base_url).scheme
        if scheme not in {"http", "https"}:
            raise ValueError(f"upstream URL must be http(s), got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.secret = secret.encode()
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    def submit(self, order: Order) -> SubmitResult:
        body = json.dumps(order_document(order), ensure_ascii=False).encode()
        status, reply = self._call("POST", "/orders", body, order.order_no)
        if status == 409 or status in (200, 201):
            return SubmitResult(ref=str(reply.get("ref") or order.order_no), status=str(reply.get("status") or ""))
        raise UpstreamError(f"upstream answered {status}", permanent=True)

    def poll(self, order: Order) -> StatusReport | None:
        path = f"/orders/{urllib.parse.quote(order.order_no)}"
        status, reply = self._call("GET", path, b"", order.order_no)
        if status == 404:
            return None
        return StatusReport(
            order_no=order.order_no,
            status=str(reply.get("status") or ""),
            courier=str(reply.get("courier") or "")[:40],
            tracking_no=str(reply.get("tracking_no") or "")[:60],
            reason=str(reply.get("reason") or "")[:200],
        )

    def _call(self, method: str, path: str, body: bytes, order_no: str) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) of the first answer that is not worth retrying."""
        # A GET signs the path as the server receives it (with the base URL's own path).
        signed = body if method == "POST" else (urllib.parse.urlparse(self.base_url).path + path).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": order_no,
            "X-Signature": hmac.new(self.secret, signed, hashlib.sha256).hexdigest(),
        }
        last_error = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
            request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
                self.base_url + path, data=body if method == "POST" else None, headers=headers, method=method
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    return response.status, _json(response.read())
            except urllib.error.HTTPError as error:
                if error.code not in RETRY_STATUSES:
                    if error.code in (404, 409):
                        return error.code, _json(error.read())
                    raise UpstreamError(
                        f"upstream refused {method} {path}: HTTP {error.code}", permanent=True
                    ) from None
                last_error = f"HTTP {error.code}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                last_error = type(getattr(error, "reason", error)).__name__
            log.info("upstream %s %s attempt %d failed: %s", method, path, attempt + 1, last_error)
        raise UpstreamError(f"upstream unreachable after {self.retries + 1} attempts ({last_error})")


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
