"""`sbd doctor`: check this machine's tools, serial ports and board access."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import deploy, doctor
from ..errors import SbdError

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def _no_answer(where: str, err: SbdError) -> list[doctor.Check]:
    return [
        doctor.Check(
            "device",
            "fail",
            f"{where}: {err}",
            "a board whose app runs under the production lock-down profile does not open its REPL (that is "
            "the profile working): reset it into its bootloader and re-flash, or check it before lock-down; "
            "otherwise check the port (`sbd doctor`)",
        )
    ]


def device_report(port: str | None, vboard_name: str | None, *, production: bool) -> list[doctor.Check]:
    """Run the doctor's script on a board and check what it reports.

    A virtual board that is not being served is powered on as `sbd vboard
    exec` does (boot.py, then the script in place of main.py), so the profile
    boot.py applies is seen; a served one, and a real board, through
    mpremote on the port, in the running interpreter."""
    if vboard_name is not None:
        from ..vboard import runner, store

        vb = store.get(vboard_name)
        where = f"vboard {vboard_name}"
        served = vb.state().get("pty")
        if not served:
            res = runner.boot(vb, script=doctor.DEVICE_SCRIPT, timeout=deploy.SCRIPT_TIMEOUT)
            try:
                report = doctor.parse_device_report(res.output)
            except SbdError as e:
                return _no_answer(where, SbdError(f"{e} (the board {res.ended}): {res.output.strip()[-300:]}"))
            return doctor.device_checks(report, where, production=production)
        port = str(served)
    assert port is not None
    where = port if vboard_name is None else f"vboard {vboard_name}"
    try:
        report = deploy.run_script(port, doctor.DEVICE_SCRIPT, timeout=60)
    except SbdError as e:
        return _no_answer(where, e)
    if not isinstance(report, dict):
        return _no_answer(where, SbdError("the board's report was not readable"))
    return doctor.device_checks(report, where, production=production)


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option("--device", is_flag=True, help="Check a board instead of this machine (with --vboard or --port).")
@click.option("--vboard", "vboard_name", help="With --device: the virtual board to check.")
@click.option("--port", help="With --device: the serial port of the board to check.")
@click.option(
    "--production", is_flag=True, help="With --device: a board that is not locked down fails (default: a warning)."
)
def cli(as_json: bool, device: bool, vboard_name: str | None, port: str | None, production: bool) -> None:
    """Check what this machine has for sbd (MicroPython, mpy-cross, mpremote,
    esptool, serial ports and permission to open them) and say what to fix.

    With --device, check a board instead: its family, MicroPython version,
    mpy version and arch (and whether the local mpy-cross can compile for
    it), free heap and flash, the SDK version on it against this one, the
    lock-down profile (sbd.lockdown applied in boot.py, main.py starting the
    app through lockdown.run, no WebREPL password file) and its factory
    record.

    Exits with status 1 when a check fails.

    \b
    sbd doctor
    sbd doctor --device --vboard b1 --json
    sbd doctor --device --port /dev/ttyACM0 --production
    """
    if device:
        if (port is None) == (vboard_name is None):
            raise click.UsageError("--device needs either --vboard NAME or --port PORT")
        checks = device_report(port, vboard_name, production=production)
    elif port or vboard_name or production:
        raise click.UsageError("--vboard, --port and --production go with --device")
    else:
        checks = doctor.run_checks()
    if as_json:
        click.echo(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        console = Console(highlight=False)
        table = Table(title="sbd doctor --device" if device else "sbd doctor", show_lines=False)
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
