"""Operators' commands for accounts, number pools and upstream."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app

from .. import runtime
from ..errors import CardshopError
from ..extensions import db
from ..services import admins, number_pool
from ..services.product_forms import product_by_sku
from ..services.upstream_sync import adapter_from_config, import_statuses, poll_statuses, submit_pending

commands = click.Group("ops")


@commands.command("create-admin")
@click.option("--username", prompt="用户名 / username")
@click.option("--name", default="", help="Display name shown in the console.")
@click.password_option("--password", prompt="密码 / password (at least 10 characters)")
def create_admin(username: str, name: str, password: str) -> None:
    """Create an operator account for the /ops console."""
    try:
        admin = admins.create_admin(db.session, username, password, name=name)
    except CardshopError as error:
        details = "; ".join(f"{field}: {problem}" for field, problem in error.fields.items())
        raise click.ClickException(f"{error.message} {details}".strip()) from None
    click.echo(f"operator {admin.username} created; log in at /ops/login")


@commands.command("import-numbers")
@click.argument("sku")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_numbers(sku: str, file: Path) -> None:
    """Add the numbers in FILE (CSV, one per line) to SKU's pool: all of them or none."""
    try:
        product = product_by_sku(db.session, sku)
    except CardshopError:
        raise click.ClickException(f"no product {sku}") from None
    report = number_pool.import_numbers(db.session, product, file.read_bytes())
    if report.problems:
        for problem in report.problems:
            click.echo(f"line {problem.line}: {problem.value} {problem.problem}", err=True)
        raise click.ClickException(f"{len(report.problems)} bad lines; nothing imported")
    click.echo(f"{sku}: {report.added} numbers imported")


@commands.command("upstream-sync")
@click.option("--submit/--no-submit", default=True, show_default=True, help="Submit 已提交 orders.")
@click.option("--poll/--no-poll", default=True, show_default=True, help="Poll orders on their way.")
@click.option("--limit", default=200, show_default=True, help="Most orders to submit in one run.")
def upstream_sync(submit: bool, poll: bool, limit: int) -> None:
    """Submit pending orders to upstream and bring their statuses back (run it from cron)."""
    adapter = adapter_from_config(current_app.config)
    stock = runtime.stock()
    failures = 0
    if submit:
        sent = submit_pending(db.session, stock, adapter, limit=limit)
        click.echo(f"submitted {len(sent.submitted)} orders via {adapter.name}, {len(sent.failed)} failed")
        for order_no, error in sent.failed.items():
            click.echo(f"  {order_no}: {error}", err=True)
        failures += len(sent.failed)
    if poll:
        polled = poll_statuses(db.session, stock, adapter)
        click.echo(f"polled: {len(polled.moved)} moved, {polled.unchanged} unchanged, {len(polled.failed)} failed")
        for order_no, status in polled.moved.items():
            click.echo(f"  {order_no} -> {status}")
        failures += len(polled.failed)
    if failures:
        raise SystemExit(1)


@commands.command("upstream-import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def upstream_import(file: Path) -> None:
    """Apply a status CSV from upstream (订单号,状态,快递公司,运单号,原因)."""
    result = import_statuses(db.session, runtime.stock(), file.read_bytes(), source="upstream-import")
    for problem in result.problems:
        click.echo(f"line {problem.line}: {problem.value} {problem.problem}", err=True)
    if result.problems:
        raise click.ClickException("nothing applied")
    for problem in result.refused:
        click.echo(f"line {problem.line}: {problem.value} refused: {problem.problem}", err=True)
    click.echo(f"applied {len(result.applied)}, unchanged {len(result.unchanged)}, refused {len(result.refused)}")
