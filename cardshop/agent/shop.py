"""The agent's shop: name, link, QR code and the share poster."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, url_for

from ..auth import agent_required, current_agent
from ..errors import Invalid
from ..extensions import db
from ..services import agents, poster
from . import bp
from .forms import ShopForm
from .links import shop_url


@bp.route("/shop", methods=["GET", "POST"])
@agent_required
def shop():  # type: ignore[no-untyped-def]
    agent = current_agent()
    form = ShopForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            agents.rename_shop(db.session, agent, form.shop_name.data or "")
        except Invalid as error:
            errors = error.fields
        else:
            flash("店铺名称已保存", "ok")
            return redirect(url_for("agent.shop"))
    elif not form.is_submitted():
        form.shop_name.data = agent.shop_name
    link = shop_url(agent)
    return render_template("agent/shop.html", agent=agent, form=form, errors=errors, link=link, qr=poster.qr_svg(link))


@bp.get("/shop/poster.png")
@agent_required
def shop_poster():  # type: ignore[no-untyped-def]
    agent = current_agent()
    png = poster.poster_png(agent.shop_name, shop_url(agent))
    response = Response(png, mimetype="image/png")
    response.headers["Content-Disposition"] = f'attachment; filename="poster-{agent.shop_code}.png"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
