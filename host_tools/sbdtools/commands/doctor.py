"""`sbd doctor`: check this machine's tools, serial ports and board access."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import doctor

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def cli(as_json: bool) -> None:
    """Check what this machine has for sbd (MicroPython, mpy-cross, mpremote,
    esptool, serial ports and permission to open them) and say what to fix.

    Exits with status 1 when a check fails.
    """
    checks = doctor.run_checks()
    if as_json:
        click.echo(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        console = Console(highlight=False)
        table = Table(title="sbd doctor", show_lines=False)
        table.add_column("", no_wrap=True)
        table.add_column("check", no_wrap=True)
        table.add_column("found")
        for c in checks:
            table.add_row(Text(c.status, style=_STYLE[c.status]), Text(c.name), Text(c.detail))
        console.print(table)
        hints = [c for c in checks if c.status != "ok" and c.hint]
        for c in hints:
            line = Text()
            line.append(f"{c.status}: ", style=_STYLE[c.status])
            line.append(f"{c.name}: {c.hint}")
            console.print(line)
        bad = sum(c.status == "fail" for c in checks)
        warn = sum(c.status == "warn" for c in checks)
        console.print(
            Text(
                f"{bad} failed, {warn} warnings, {len(checks) - bad - warn} ok",
                style="bold red" if bad else "green",
            )
        )
    if doctor.failed(checks):
        # SystemExit, not click's Exit: cli.main runs click with standalone_mode=False, where
        # an Exit(1) becomes a return value and the process would still exit 0.
        sys.exit(1)
