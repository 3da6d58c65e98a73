"""Operators log in and out."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import login_user, logout_user
from werkzeug.wrappers import Response

from ..errors import Invalid
from ..extensions import db, limiter
from ..services import admins
from . import bp


def _safe_next(target: str | None) -> str:
    """Only back into the console: never an open redirect to another site."""
    if target and target.startswith("/ops") and not target.startswith("//"):
        return target
    return url_for("ops.home")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login() -> str | Response:
    error = ""
    if request.method == "POST":
        try:
            admin = admins.authenticate(
                db.session,
                request.form.get("username", ""),
                request.form.get("password", ""),
                max_failures=current_app.config["LOGIN_MAX_FAILURES"],
                lock_minutes=current_app.config["LOGIN_LOCK_MINUTES"],
            )
        except Invalid as refused:
            error = refused.message
        else:
            login_user(admin)
            current_app.logger.info("operator %s logged in", admin.username)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("ops/login.html", error=error, username=request.form.get("username", ""))


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    flash("已退出登录", "info")
    return redirect(url_for("ops.login"))


@bp.get("/")
def home() -> Response:
    return redirect(url_for("ops.orders"))
