"""Logging: one JSON object per line, a request id on every line, no personal data.

The request id comes from the client's ``X-Request-ID`` (when it looks like one) or
is made here; it is echoed back in the response header, so a customer's complaint, a
load balancer's log and ours can be matched. A filter on the handler masks anything
shaped like a mainland ID number or mobile phone number in every message, whatever
logged it: a line that would leak one is written masked instead (I7).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, request

from .validation import mask_id_card, mask_phone

request_id_var: ContextVar[str | None] = ContextVar("cardshop_request_id", default=None)

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
# Standalone numbers only: an 18-character ID number, an 11-digit mobile, not touching
# other letters or digits -- so a run of digits inside a hex request id or an order
# number is left alone (Chinese text around a number still counts as a boundary).
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")
_STANDARD = set(vars(logging.makeLogRecord({})))
# One encoder for every line: json.dumps with any option builds a new encoder per call
# (and pottery wraps json.dumps module-wide), a measurable share of a short request.
_encode = json.JSONEncoder(ensure_ascii=False).encode


# Both kinds of number are at least eleven digits in a row. An ASCII line without such
# a run (nearly every line: an access line, a lock message) is returned as it is after
# one translate and one substring search, about a tenth of what the two lookbehind
# patterns cost to scan it; any other line goes through the patterns (``\d`` matches
# every script's digits, so a line that is not ASCII always does).
_ASCII_DIGITS = str.maketrans("123456789", "000000000")
_DIGIT_RUN = "0" * 11


def scrub(text: str) -> str:
    """``text`` with ID numbers and mobile numbers masked."""
    if text.isascii() and _DIGIT_RUN not in text.translate(_ASCII_DIGITS):
        return text
    text = _ID_CARD.sub(lambda m: mask_id_card(m.group()), text)
    return _MOBILE.sub(lambda m: mask_phone(m.group()), text)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class ScrubFilter(logging.Filter):
    """Masks personal numbers in the finished message and any exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._second: tuple[float, str] = (-1.0, "")  # the last whole second and its text

    def timestamp(self, created: float) -> str:
        """``created`` as ``datetime.fromtimestamp(created, UTC).isoformat(timespec=
        "milliseconds")`` writes it, with the text up to the second made once a second
        rather than for every line."""
        fraction, second = math.modf(created)
        micros = round(fraction * 1e6)  # as datetime rounds a timestamp
        if micros >= 1_000_000:
            second, micros = second + 1, micros - 1_000_000
        cached, text = self._second
        if cached != second:
            text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = (second, text)
        return f"{text}.{micros // 1000:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_text or record.exc_info:
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return scrub(_encode(entry))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def configure(json_lines: bool, level: int = logging.INFO) -> None:
    """Install one stderr handler on the root logger (replacing earlier ones)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(RequestIdFilter())
    handler.addFilter(ScrubFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_cardshop", False)]:
        root.removeHandler(old)
    handler._cardshop = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # pottery announces at INFO every script it registers, once per lock and token
    # sequence in every process: noise next to the app's own lines.
    logging.getLogger("pottery").setLevel(max(level, logging.WARNING))


access_log = logging.getLogger("cardshop.access")


def log_access(method: str, path: str, status: int, started: float) -> None:
    """The request's access line: ``access_log.info`` without its search of the stack
    for the caller (the line says where it comes from: cardshop.access, this
    function). With the formatter's timestamp text made once a second, that is a
    fifth of the line's instructions. Level, filters and handlers apply as to any line."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    extra = {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    record = access_log.makeRecord(
        access_log.name, logging.INFO, __file__, 0, "%s %s %s", (method, path, status), None, "log_access", extra
    )
    access_log.handle(record)


def init_app(app: Flask) -> None:
    """Request ids in and out, and one access line per request (path without its query:
    a query string may carry a phone number)."""

    @app.before_request
    def take_request_id() -> None:
        offered = request.headers.get("X-Request-ID", "")
        g.request_id = offered if _CLIENT_ID.match(offered) else uuid.uuid4().hex
        g.request_started = time.perf_counter()
        request_id_var.set(g.request_id)

    @app.after_request
    def log_request(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
            log_access(request.method, request.path, response.status_code, g.get("request_started", 0.0))
        return response

    @app.teardown_request
    def forget_request_id(_error: BaseException | None) -> None:
        request_id_var.set(None)
