"""Operators' commands: ``flask --app wsgi cardshop <command>``, thin over services.

Each module keeps its commands in a ``commands`` group; this package merges them
into the one ``cardshop`` group."""

from __future__ import annotations

from flask.cli import AppGroup

from . import agent, core, growth, ops, risk

cardshop_cli = AppGroup("cardshop", help="cardshop operations.")

for module in (core, risk, agent, ops, growth):
    for command in module.commands.commands.values():
        cardshop_cli.add_command(command)
