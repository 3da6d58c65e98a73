"""One error handler per kind: domain errors and HTTP errors become JSON under /api
and a page elsewhere, each with a stable code."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, jsonify, render_template, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from .errors import CardshopError, DatabaseUnavailable
from .extensions import db

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}
HTTP_MESSAGES = {
    400: "请求格式不正确",
    401: "请先登录",
    403: "没有权限",
    404: "页面不存在",
    405: "不支持该请求方式",
    413: "请求内容过大",
    415: "不支持的内容类型",
    429: "操作过于频繁，请稍后再试",
    500: "系统出了点问题，请稍后再试",
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path in {"/healthz", "/readyz"}


# JSON bodies of errors without fields, by (code, message): under a flash sale most
# answers are the same sold-out error, and serialising it again each time was a tenth
# of that answer's time in the app.
_PLAIN_BODIES: dict[tuple[str, str], str] = {}


def render_error(
    code: str, message: str, status: int, fields: dict[str, str] | None = None, retry_after: int | None = None
) -> Response:
    if wants_json() and not fields:
        body = _PLAIN_BODIES.get((code, message))
        if body is None:
            body = jsonify({"error": code, "message": message, "fields": {}}).get_data(as_text=True)
            if len(_PLAIN_BODIES) < 256:  # the messages are the code's own, a few dozen
                _PLAIN_BODIES[(code, message)] = body
        response = current_app.response_class(body, mimetype="application/json")
    elif wants_json():
        response = jsonify({"error": code, "message": message, "fields": fields})
    else:
        response = Response(
            render_template("error.html", code=code, message=message, status=status), mimetype="text/html"
        )
    response.status_code = status
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(CardshopError)
    def domain_error(error: CardshopError) -> Response:
        if db.session.registry.has():  # a sold-out answer never opened a session
            db.session.rollback()
        return render_error(error.code, error.message, error.status, error.fields, error.retry_after)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        return render_error(HTTP_CODES.get(status, "error"), HTTP_MESSAGES.get(status, error.description or ""), status)

    @app.errorhandler(DBAPIError)
    def database_down(error: DBAPIError) -> Response:
        # The database refused or lost a statement (down, locked, a trigger, disk full):
        # nothing was sold (the stock path gave it back), so the client may retry.
        db.session.rollback()
        log.warning("database unavailable: %s", type(error.orig).__name__)
        unavailable = DatabaseUnavailable()
        return render_error(unavailable.code, unavailable.message, 503, retry_after=unavailable.retry_after)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        return render_error("internal", HTTP_MESSAGES[500], 500)
