"""Core operator commands: schema, demo data, stock, Redis nodes."""

from __future__ import annotations

import signal
import time

import click
from flask import current_app
from sqlalchemy import select

from .. import runtime
from ..embedded import EmbeddedStack
from ..errors import ConfigError
from ..extensions import db
from ..models import Product
from ..schema import ensure_schema
from ..services.demo import load_demo

commands = click.Group("core")


@commands.command("init-db")
@click.option("--if-new", is_flag=True, help="Kept for scripts; migrating is always safe to repeat.")
def init_db(if_new: bool) -> None:
    """Create or upgrade the database schema by running the migrations."""
    try:
        done = ensure_schema()
    except ConfigError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"schema {done}; ", nl=False)
    click.echo(f"database ready: {db.engine.url.render_as_string(hide_password=True)}")


@commands.command("demo")
def demo() -> None:
    """Load the demo catalogue, a number pool and the root agent (invite code 00168)."""
    products = load_demo(db.session)
    rows = runtime.stock().reconcile(actor="demo")
    click.echo(f"demo catalogue: {len(products)} products; stock loaded on the nodes for {len(rows)}")


@commands.command("restock")
@click.argument("sku")
@click.argument("qty", type=int)
@click.option("--actor", default="cli", show_default=True)
def restock(sku: str, qty: int, actor: str) -> None:
    """Add QTY units of SKU (negative removes unsold units)."""
    if db.session.scalars(select(Product).where(Product.sku == sku)).one_or_none() is None:
        raise click.ClickException(f"no product {sku}")
    available = runtime.stock().restock(sku, qty, actor=actor)
    click.echo(f"{sku}: {qty:+d}, available now {available}")


@commands.command("reconcile")
@click.option("--dry-run", is_flag=True, help="Report differences without fixing them.")
def reconcile(dry_run: bool) -> None:
    """Recompute every product's counter from the database and rewrite all nodes."""
    rows = runtime.stock().reconcile(dry_run=dry_run)
    width = max([len(row.sku) for row in rows] + [3])
    count = len(runtime.runtime().nodes)
    click.echo(f"{'sku':<{width}}  database  " + "  ".join(f"node{i}" for i in range(count)) + "  action")
    for row in rows:
        nodes = "  ".join(f"{value!s:>5}" for value in row.nodes)
        mismatch = any(value != row.database for value in row.nodes)
        action = "fixed" if row.fixed else ("would fix" if mismatch else "ok")
        click.echo(f"{row.sku:<{width}}  {row.database:>8}  {nodes}  {action}")


@commands.command("redis-nodes")
@click.option("--count", default=3, show_default=True)
def redis_nodes(count: int) -> None:
    """Start local Redis nodes, print their URLs, and keep them until Ctrl-C."""
    with EmbeddedStack(count) as stack:
        click.echo(f"REDIS_URLS={','.join(stack.urls)}")
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            while all(node.alive for node in stack.nodes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    current_app.logger.info("redis nodes stopped")
