"""Risk commands: the blocklist of ID numbers and phones that may not order.

flask --app wsgi cardshop block add id_card 11010519900101123X --reason "盗用身份"
flask --app wsgi cardshop block add phone 13800000000 --reason "恶意下单"
flask --app wsgi cardshop block list [--kind phone]
flask --app wsgi cardshop block remove phone 13800000000
"""

from __future__ import annotations

import click

from ..extensions import db
from ..models import BLOCK_KINDS
from ..services import risk
from ..validation import id_card_problem, mask_id_card, mask_phone, mobile_problem

commands = click.Group("risk")
KIND = click.Choice(sorted(BLOCK_KINDS))


@commands.group("block")
def block() -> None:
    """Block ID numbers or phones from ordering (add / remove / list)."""


@block.command("add")
@click.argument("kind", type=KIND)
@click.argument("value")
@click.option("--reason", required=True, help="Why it is blocked (kept for operators).")
@click.option("--actor", default="cli", show_default=True)
def add(kind: str, value: str, reason: str, actor: str) -> None:
    """Block VALUE (an ID number or a phone) with a reason."""
    problem = id_card_problem(value) if kind == "id_card" else mobile_problem(value)
    if problem:
        raise click.BadParameter(problem, param_hint="VALUE")
    entry, created = risk.block(db.session, kind, value, reason, actor)
    click.echo(f"{'blocked' if created else 'updated'} {kind} {entry.value}: {entry.reason}")


@block.command("remove")
@click.argument("kind", type=KIND)
@click.argument("value")
def remove(kind: str, value: str) -> None:
    """Unblock VALUE."""
    if not risk.unblock(db.session, kind, value):
        raise click.ClickException(f"{kind} {value} is not blocked")
    click.echo(f"unblocked {kind} {value.strip().upper() if kind == 'id_card' else value.strip()}")


@block.command("list")
@click.option("--kind", type=KIND, default=None)
@click.option("--unmasked", is_flag=True, help="Show whole ID numbers and phones.")
def list_entries(kind: str | None, unmasked: bool) -> None:
    """List blocked ID numbers and phones."""
    entries = risk.blocklist(db.session, kind)
    if not entries:
        click.echo("blocklist is empty")
        return
    for entry in entries:
        mask = mask_id_card if entry.kind == "id_card" else mask_phone
        value = entry.value if unmasked else mask(entry.value)
        when = entry.created_at.strftime("%Y-%m-%d")
        click.echo(f"{entry.kind:<8} {value:<18} {when} {entry.actor:<10} {entry.reason}")
