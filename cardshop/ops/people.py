"""Agents as operators see them."""

from __future__ import annotations

from flask import render_template, request
from sqlalchemy import func, or_, select

from ..extensions import db
from ..models import LEVELS, Agent, Order, Wallet
from . import bp

PAGE_SIZE = 50


@bp.get("/agents")
def agents() -> str:
    query = request.args.get("q", "").strip()
    page = request.args.get("page", "1")
    page_no = int(page) if page.isdigit() and int(page) > 0 else 1
    statement = select(Agent)
    if query:
        like = f"%{query}%"
        statement = statement.where(or_(Agent.phone.like(like), Agent.name.like(like), Agent.shop_code.like(like)))
    total = db.session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = list(db.session.scalars(statement.order_by(Agent.id).offset((page_no - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    counted = db.session.execute(
        select(Order.agent_id, func.count()).where(Order.agent_id.in_([a.id for a in rows])).group_by(Order.agent_id)
    ).all()
    order_counts: dict[int | None, int] = {agent_id: int(count) for agent_id, count in counted}
    wallets = {
        w.agent_id: w for w in db.session.scalars(select(Wallet).where(Wallet.agent_id.in_([a.id for a in rows])))
    }
    uplines = {
        a.id: a
        for a in db.session.scalars(select(Agent).where(Agent.id.in_({a.upline_id for a in rows if a.upline_id})))
    }
    return render_template(
        "ops/agents.html",
        agents=rows,
        total=total,
        page=page_no,
        pages=max(1, -(-total // PAGE_SIZE)),
        query=query,
        levels=LEVELS,
        order_counts=order_counts,
        uplines=uplines,
        wallets=wallets,
    )
