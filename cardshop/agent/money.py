"""The agent's money: the commission ledger and withdrawals (提现)."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for

from .. import runtime
from ..auth import agent_required, current_agent
from ..errors import CardshopError, Invalid
from ..extensions import db, limiter
from ..models import BUCKETS, ENTRY_KINDS, Agent
from ..services import agent_reports as reports
from ..services import withdrawals
from ..services.wallets import wallet
from ..validation import mask_phone
from . import bp
from .forms import WithdrawForm


def policy() -> withdrawals.Policy:
    config = current_app.config
    return withdrawals.Policy(
        min_fen=config["WITHDRAW_MIN_FEN"],
        fee_permille=config["WITHDRAW_FEE_PERMILLE"],
        interval_days=config["WITHDRAW_INTERVAL_DAYS"],
    )


def _page() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() else 1


@bp.get("/commissions")
@agent_required
def commissions():  # type: ignore[no-untyped-def]
    agent = current_agent()
    bucket, kind, month = (request.args.get(key, "") for key in ("bucket", "kind", "month"))
    found = reports.ledger(
        db.session, agent.id, bucket=bucket, kind=kind, month=reports.parse_month(month), page=_page()
    )
    return render_template(
        "agent/commissions.html",
        agent=agent,
        found=found,
        wallet=wallet(db.session, agent.id),
        order_nos=reports.order_numbers(db.session, {e.order_id for e in found.items if e.order_id}),
        buckets=BUCKETS,
        kinds=ENTRY_KINDS,
        bucket=bucket,
        kind=kind,
        month=month,
    )


@bp.route("/withdrawals", methods=["GET", "POST"])
@agent_required
@limiter.limit("20/minute", methods=["POST"])
def withdraw():  # type: ignore[no-untyped-def]
    """GET: the form and history. POST without ``confirmed``: show the fee; with it: submit."""
    agent = current_agent()
    form = WithdrawForm()
    rules = policy()
    errors: dict[str, str] = {}
    quote = None
    if form.validate_on_submit():
        try:
            amount = withdrawals.parse_yuan(form.amount.data or "")
            withdrawals.check_request(
                agent,
                wallet(db.session, agent.id),
                amount,
                policy=rules,
                now=reports.now_utc(),
                method=form.payout_method.data or "",
                account=form.payout_account.data or "",
            )
            quote = withdrawals.quote(amount, rules)
            if form.confirmed.data == "yes":
                withdrawals.request_withdrawal(
                    db.session,
                    runtime.runtime().locks.hold,
                    agent,
                    amount,
                    policy=rules,
                    method=form.payout_method.data or "",
                    account=form.payout_account.data or "",
                )
                flash(f"提现申请已提交：{quote.net_fen / 100:.2f} 元将在审核后打款到您的账户", "ok")
                return redirect(url_for("agent.withdraw"))
        except Invalid as error:
            errors, quote = error.fields, None
        except CardshopError as error:
            errors, quote = {"amount": error.message}, None
    else:
        errors = {name: messages[0] for name, messages in form.errors.items() if messages}
    return _render(agent, form, rules, errors, quote)


def _render(
    agent: Agent, form: WithdrawForm, rules: withdrawals.Policy, errors: dict[str, str], quote: withdrawals.Quote | None
) -> str:
    balance = wallet(db.session, agent.id)
    return render_template(
        "agent/withdrawals.html",
        agent=agent,
        form=form,
        policy=rules,
        wallet=balance,
        next_at=withdrawals.next_withdrawal_at(balance, rules) if balance.last_withdrawal_at else None,
        errors=errors,
        quote=quote,
        found=reports.withdrawals(db.session, agent.id, _page()),
        methods=withdrawals.PAYOUT_METHODS,
        mask_account=mask_phone,
    )
