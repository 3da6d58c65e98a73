"""The agent's daily pages: dashboard, products, orders, team."""

from __future__ import annotations

from flask import current_app, render_template, request

from ..auth import agent_required, current_agent
from ..extensions import db
from ..models import LEVELS, STATUSES, Order
from ..services import agent_reports as reports
from ..services import levels
from ..services.wallets import wallet
from ..validation import mask_name, mask_phone
from . import bp
from .charts import bar_chart
from .links import invite_url, shop_url


def _page() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() else 1


@bp.get("/")
@agent_required
def dashboard():  # type: ignore[no-untyped-def]
    agent = current_agent()
    thresholds = current_app.config["LEVEL_THRESHOLDS"]
    month_count = levels.activations(db.session, [agent.id], reports.today())[agent.id]
    target = levels.next_threshold(agent.level, thresholds)
    series = reports.monthly_commissions(db.session, agent.id)
    recent = reports.recent_orders(db.session, agent.id)
    return render_template(
        "agent/dashboard.html",
        agent=agent,
        month_count=month_count,
        target=target,
        progress=min(100, round(100 * month_count / target)) if target else 100,
        wallet=wallet(db.session, agent.id),
        frozen=reports.frozen_by_date(db.session, agent.id),
        chart=bar_chart(series),
        recent=recent,
        lines=reports.my_lines(db.session, agent.id, [order.id for order in recent]),
        mask_name=mask_name,
    )


@bp.get("/products")
@agent_required
def products():  # type: ignore[no-untyped-def]
    agent = current_agent()
    top = len(LEVELS) - 1
    return render_template(
        "agent/products.html",
        agent=agent,
        products=reports.listed_products(db.session),
        next_level=agent.level + 1 if agent.level < top else None,
        shop_link=shop_url(agent),
    )


@bp.get("/orders")
@agent_required
def orders():  # type: ignore[no-untyped-def]
    agent = current_agent()
    status = request.args.get("status", "")
    month_raw = request.args.get("month", "")
    found = reports.orders(db.session, agent.id, status=status, month=reports.parse_month(month_raw), page=_page())
    return render_template(
        "agent/orders.html",
        agent=agent,
        found=found,
        lines=reports.my_lines(db.session, agent.id, [order.id for order in found.items]),
        statuses=STATUSES,
        status=status,
        month=month_raw,
        mask_name=mask_name,
        mask_phone=mask_phone,
    )


@bp.get("/orders/<order_no>")
@agent_required
def order_detail(order_no: str):  # type: ignore[no-untyped-def]
    agent = current_agent()
    order: Order = reports.order_of(db.session, agent.id, order_no)
    return render_template(
        "agent/order.html",
        agent=agent,
        order=order,
        customer=order.to_customer(),
        line=reports.my_lines(db.session, agent.id, [order.id]).get(order.id),
        events=[event for event in order.events if event.accepted],
    )


@bp.get("/team")
@agent_required
def team():  # type: ignore[no-untyped-def]
    agent = current_agent()
    return render_template(
        "agent/team.html",
        agent=agent,
        found=reports.direct_team(db.session, agent.id, _page()),
        team_size=reports.team_size(db.session, agent.id),
        invite_link=invite_url(agent),
        mask_phone=mask_phone,
        mask_name=mask_name,
    )
