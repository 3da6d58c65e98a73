"""Register, log in and out, real-name verification."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from ..auth import agent_required, current_agent
from ..errors import CardshopError, Invalid
from ..extensions import db, limiter
from ..services import agents
from . import bp
from .forms import LoginForm, PostForm, RegisterForm, VerifyForm


def _safe_next(target: str | None) -> str:
    """Only a path inside this site, so a crafted link cannot bounce a login elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("agent.dashboard")


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit("10/hour", methods=["POST"])
def register():  # type: ignore[no-untyped-def]
    form = RegisterForm()
    if request.method == "GET" and request.args.get("invite"):
        form.invite.data = request.args["invite"]
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            agent = agents.register(db.session, form.phone.data or "", form.password.data or "", form.invite.data or "")
        except Invalid as error:
            errors = error.fields
        else:
            login_user(agent)
            flash("注册成功！完成实名认证后即可开店。", "ok")
            return redirect(url_for("agent.verify"))
    return render_template("agent/register.html", form=form, errors={**_form_errors(form), **errors})


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("30/minute", methods=["POST"])
def login():  # type: ignore[no-untyped-def]
    form = LoginForm()
    message = ""
    if form.validate_on_submit():
        policy = agents.LoginPolicy(current_app.config["LOGIN_MAX_FAILURES"], current_app.config["LOGIN_LOCK_MINUTES"])
        try:
            agent = agents.authenticate(db.session, form.phone.data or "", form.password.data or "", policy)
        except CardshopError as error:
            message = error.message
        else:
            login_user(agent)
            return redirect(_safe_next(request.args.get("next")))
    elif current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("agent.dashboard"))
    return render_template("agent/login.html", form=form, message=message, errors=_form_errors(form))


@bp.post("/logout")
def logout():  # type: ignore[no-untyped-def]
    if PostForm().validate_on_submit():
        logout_user()
    return redirect(url_for("agent.login"))


@bp.route("/verify", methods=["GET", "POST"])
@agent_required
def verify():  # type: ignore[no-untyped-def]
    agent = current_agent()
    form = VerifyForm()
    errors: dict[str, str] = {}
    if not agent.verified and form.validate_on_submit():
        secret = current_app.config["SECRET_KEY"]
        try:
            agents.verify_identity(db.session, agent, form.name.data or "", form.id_card.data or "", secret=secret)
        except Invalid as error:
            errors = error.fields
        else:
            flash("实名认证成功，您的店铺已开通！", "ok")
            return redirect(url_for("agent.shop"))
    form.id_card.data = ""  # never echo an ID number back into the page
    return render_template("agent/verify.html", agent=agent, form=form, errors={**_form_errors(form), **errors})


def _form_errors(form: object) -> dict[str, str]:
    fields = getattr(form, "errors", {}) or {}
    return {name: messages[0] for name, messages in fields.items() if messages and name != "csrf_token"}
