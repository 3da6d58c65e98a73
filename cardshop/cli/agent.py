"""Agent money commands: settlement, month-start levels, withdrawal decisions."""

from __future__ import annotations

import getpass
from datetime import date, datetime

import click
from flask import current_app
from sqlalchemy import select

from .. import runtime
from ..errors import CardshopError
from ..extensions import db
from ..models import WITHDRAWAL_STATUSES, Agent, Withdrawal
from ..services import agents, commissions, levels, withdrawals
from ..services.agent_reports import today

commands = click.Group("agent")


def _day(raw: str | None) -> date:
    return datetime.strptime(raw, "%Y-%m-%d").date() if raw else today()


def _operator(given: str) -> str:
    return given or f"cli:{getpass.getuser()}"


@commands.command("settle")
@click.option("--on", "on_day", metavar="YYYY-MM-DD", help="Settle as of this Shanghai date (default: today).")
def settle(on_day: str | None) -> None:
    """Move frozen commission whose settlement date has come to the settled (withdrawable) balance."""
    settled = commissions.settle_due(db.session, runtime.stock(), _day(on_day))
    for order in settled:
        click.echo(f"settled order {order.order_no}")
    click.echo(f"{len(settled)} order(s) settled")


@commands.command("relevel")
@click.option("--on", "on_day", metavar="YYYY-MM-DD", help="Evaluate as of this Shanghai date (default: today).")
@click.option("--dry-run", is_flag=True, help="Show the changes without applying them.")
def relevel(on_day: str | None, dry_run: bool) -> None:
    """Month-start level evaluation from last month's activations (never below an agent's floor)."""
    changes = levels.relevel(db.session, _day(on_day), current_app.config["LEVEL_THRESHOLDS"], dry_run=dry_run)
    for change in changes:
        click.echo(
            f"agent {change.agent_id} {change.phone}: level {change.before} -> {change.after}"
            f" ({change.activations} activations last month)"
        )
    click.echo(f"{len(changes)} level change(s){' (dry run)' if dry_run else ''}")


@commands.command("agent-level")
@click.argument("phone")
@click.argument("level", type=click.IntRange(0, 3))
@click.option("--floor/--no-floor", default=True, show_default=True, help="Also keep relevel from going below it.")
def agent_level(phone: str, level: int, floor: bool) -> None:
    """Grant an agent a level (0 普通代理 .. 3 商务)."""
    agent = db.session.scalars(select(Agent).where(Agent.phone == phone)).one_or_none()
    if agent is None:
        raise click.ClickException(f"no agent with phone {phone}")
    agent.level = level
    if floor:
        agent.level_floor = level
    db.session.commit()
    click.echo(f"agent {agent.id} {phone}: level {level}{' (floor)' if floor else ''}")


@commands.command("agent-password")
@click.argument("phone")
@click.password_option(help="The new password (prompted when omitted).")
def agent_password(phone: str, password: str) -> None:
    """Set an agent's password and lift a login lock (e.g. the demo root 13800000168)."""
    agent = db.session.scalars(select(Agent).where(Agent.phone == phone)).one_or_none()
    if agent is None:
        raise click.ClickException(f"no agent with phone {phone}")
    try:
        agents.set_password(db.session, agent, password)
    except CardshopError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"agent {agent.id} {phone}: password set")


@commands.command("withdrawals")
@click.option("--status", type=click.Choice(list(WITHDRAWAL_STATUSES)), default="requested", show_default=True)
def list_withdrawals(status: str) -> None:
    """List withdrawal requests."""
    rows = db.session.execute(
        select(Withdrawal, Agent.phone)
        .join(Agent, Agent.id == Withdrawal.agent_id)
        .where(Withdrawal.status == status)
        .order_by(Withdrawal.id)
    )
    click.echo("id  agent        amount    fee       net       method  account               name      requested")
    for withdrawal, phone in rows:
        click.echo(
            f"{withdrawal.id:<3} {phone:<12} {withdrawal.amount_fen / 100:>8.2f}  {withdrawal.fee_fen / 100:>8.2f}  "
            f"{withdrawal.net_fen / 100:>8.2f}  {withdrawal.payout_method:<6}  {withdrawal.payout_account:<20}  "
            f"{withdrawal.payout_name:<8}  {withdrawal.created_at:%Y-%m-%d %H:%M}"
        )


def _decide(action, *args: object) -> None:  # type: ignore[no-untyped-def]
    try:
        withdrawal = action(db.session, *args)
    except CardshopError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"withdrawal {withdrawal.id}: {withdrawal.status} ({withdrawal.status_label})")


@commands.command("withdrawal-approve")
@click.argument("withdrawal_id", type=int)
@click.option("--operator", default="", help="Who decided (default: cli:<user>).")
def withdrawal_approve(withdrawal_id: int, operator: str) -> None:
    """Approve a requested withdrawal (it still has to be paid)."""
    _decide(withdrawals.approve, withdrawal_id, _operator(operator))


@commands.command("withdrawal-reject")
@click.argument("withdrawal_id", type=int)
@click.option("--reason", required=True, help="Shown to the agent.")
@click.option("--operator", default="")
def withdrawal_reject(withdrawal_id: int, reason: str, operator: str) -> None:
    """Reject a withdrawal: the money returns to the agent's settled balance."""
    _decide(withdrawals.reject, withdrawal_id, _operator(operator), reason)


@commands.command("withdrawal-paid")
@click.argument("withdrawal_id", type=int)
@click.option("--reference", required=True, help="The transfer's reference number.")
@click.option("--operator", default="")
def withdrawal_paid(withdrawal_id: int, reference: str, operator: str) -> None:
    """Mark an approved withdrawal paid."""
    _decide(withdrawals.mark_paid, withdrawal_id, _operator(operator), reference)
