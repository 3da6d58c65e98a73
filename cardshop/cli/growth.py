"""Data growth: ``seed-large`` fills a database with a year of a busy platform."""

from __future__ import annotations

import click
from flask import current_app

from .. import runtime
from ..errors import CardshopError
from ..extensions import db
from ..services import seeding

commands = click.Group("growth")


@commands.command("seed-large")
@click.option("--orders", default=1_000_000, show_default=True, type=click.IntRange(1))
@click.option("--agents", default=10_000, show_default=True, type=click.IntRange(1))
@click.option("--months", default=12, show_default=True, type=click.IntRange(1, 36), help="How far back orders go.")
@click.option("--seed", default=168, show_default=True, help="Random seed: the same seed gives the same data.")
def seed_large(orders: int, agents: int, months: int, seed: int) -> None:
    """Add ORDERS orders and AGENTS agents (referral tree, commissions, ledger) for load tests.

    Loads the demo catalogue and root agent first if missing. Run it on a quiet
    database: it continues wallets from their current balances."""
    plan = seeding.Plan(orders=orders, agents=agents, seed=seed, months=months)
    try:
        report = seeding.seed_large(
            db.session, runtime.stock(), plan, secret=current_app.config["SECRET_KEY"], progress=click.echo
        )
    except CardshopError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"seeded in {report.seconds:.1f}s: {report.agents} agents, {report.customers} customers")
    for name, count in sorted(report.rows.items()):
        click.echo(f"  {name:<18}{count:>10}")
    click.echo("  statuses: " + ", ".join(f"{status} {count}" for status, count in report.statuses.most_common()))
    for phone, shop_code, count in report.busiest:
        click.echo(f"  busy agent {phone} (shop {shop_code}): {count} orders")
