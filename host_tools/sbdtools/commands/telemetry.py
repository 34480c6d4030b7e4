"""`sbd telemetry`: per-device broker credentials and the event listener
(thin layers over sbdtools.telemetry)."""

from __future__ import annotations

import json
import os
import time
from collections import deque
from pathlib import Path

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from .. import telemetry as tm
from ..errors import SbdError


@click.group("telemetry")
def cli() -> None:
    """Security events and metrics from devices over MQTT."""


def _write_new(path: Path, text: str, mode: int = 0o600) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise SbdError(f"{path} exists: not overwriting it (move it away first)") from None
    except OSError as e:
        raise SbdError(f"{path}: {e.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(text)


@cli.command("broker-creds")
@click.argument("serials", nargs=-1, required=True)
@click.option(
    "--passwd", "passwd", type=click.Path(path_type=Path), required=True, help="mosquitto password_file to write."
)
@click.option("--acl", type=click.Path(path_type=Path), required=True, help="mosquitto acl_file to write.")
@click.option(
    "--secrets",
    "secrets_path",
    type=click.Path(path_type=Path),
    required=True,
    help="JSON of serial -> secret (mode 0600), to hand each secret to its device.",
)
@click.option("--listener", default="listener", show_default=True, help="User name of the listener (reads all).")
def broker_creds(serials: tuple[str, ...], passwd: Path, acl: Path, secrets_path: Path, listener: str) -> None:
    """Make a random broker secret per device and write what Mosquitto needs
    to check it ($7$ hashes, an ACL confining each device to sbd/<serial>/)."""
    for p in (passwd, acl, secrets_path):
        if p.exists() or p.is_symlink():
            raise SbdError(f"{p} exists: not overwriting it (move it away first)")
    devs = tm.broker_creds([*serials, listener])
    _write_new(secrets_path, json.dumps({d.serial: d.secret for d in devs}, indent=1) + "\n")
    _write_new(passwd, "".join(d.line + "\n" for d in devs))
    _write_new(acl, tm.acl_text([listener]), 0o644)
    click.echo(f"{len(serials)} device(s) and listener {listener!r}: {passwd}, {acl}, secrets in {secrets_path}")


def _table(rows: deque[tm.Event], stats: tm.ListenStats) -> Table:
    t = Table(title=f"sbd telemetry: {stats.received} received, {stats.stored} stored, {stats.rejected} rejected")
    for col in ("device", "seq", "t_ms", "event", "fields"):
        t.add_column(col)
    for e in rows:
        style = "bold red" if e.name == "security.alert" or e.name.endswith((".failure", ".lockout", ".tamper")) else ""
        t.add_row(e.device, str(e.seq), str(e.t_ms), e.name, json.dumps(e.fields, sort_keys=True), style=style)
    return t


@cli.command("listen")
@click.option("--broker", required=True, help="mqtt://host[:port] or mqtts://host[:port].")
@click.option("--tls-ca", type=click.Path(exists=True, dir_okay=False), help="CA file to verify an mqtts broker.")
@click.option("--user", help="Listener user name (password from SBD_MQTT_PASSWORD).")
@click.option("--db", help="Store events: a SQLite path, sqlite:///path or postgresql://...")
@click.option("--device", "devices", multiple=True, help="Only this device (repeatable).")
@click.option("--event", "names", multiple=True, help="Only this event name (repeatable).")
@click.option("--count", type=click.IntRange(min=1), help="Stop after storing/showing this many events.")
@click.option("--seconds", type=click.FloatRange(min=0.1), help="Stop after this long.")
@click.option("--quiet", is_flag=True, help="No live table (for scripts and load tests).")
def listen(
    broker: str,
    tls_ca: str | None,
    user: str | None,
    db: str | None,
    devices: tuple[str, ...],
    names: tuple[str, ...],
    count: int | None,
    seconds: float | None,
    quiet: bool,
) -> None:
    """Show live events in a table and store them."""
    store = tm.EventStore(db) if db else None
    lis = tm.Listener(
        tm.parse_broker(broker),
        store,
        user=user,
        password=os.environ.get("SBD_MQTT_PASSWORD"),
        tls_ca=tls_ca,
        devices=devices,
        names=names,
    )
    lis.start()
    rows: deque[tm.Event] = deque(maxlen=20)
    seen = 0
    end = time.monotonic() + seconds if seconds else None
    console = Console(stderr=quiet)
    try:
        with Live(_table(rows, lis.stats), console=console, auto_refresh=False, transient=quiet) as live:
            while (count is None or seen < count) and (end is None or time.monotonic() < end):
                kept = lis.poll()
                seen += len(kept)
                rows.extend(kept)
                if kept and not quiet:
                    live.update(_table(rows, lis.stats), refresh=True)
    except KeyboardInterrupt:
        pass
    finally:
        lis.stop()
        if store is not None:
            store.close()
    s = lis.stats
    click.echo(f"received {s.received}, stored {s.stored}, rejected {s.rejected}")


@cli.command("log")
@click.option("--vboard", "vboard_name", metavar="NAME", help="A virtual board.")
@click.option("--port", metavar="DEV", help="Serial port of a real board (e.g. /dev/ttyACM0).")
@click.option("--board", default="pico_w", show_default=True, help="Board type of --port.")
@click.option("--path", default=tm.LOG_PATH, show_default=True, help="The log on the board (sbd.flashlog).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def log_cmd(vboard_name: str | None, port: str | None, board: str, path: str, as_json: bool) -> None:
    """Read the bounded event log on a board's flash, oldest first."""
    from .. import station

    if (port is None) == (vboard_name is None):
        raise click.UsageError("give either --port (a real board) or --vboard (a virtual board)")
    script = tm.flash_log_script(path)
    link = station.VBoardLink(vboard_name) if vboard_name is not None else station.serial_link(str(port), board)
    try:
        doc = link.run(script)
    finally:
        link.close()
    events, bad = tm.parse_flash_log(doc)
    for e in events:
        if as_json:
            click.echo(json.dumps({"seq": e.seq, "t_ms": e.t_ms, "ev": e.name, "f": e.fields}, sort_keys=True))
        else:
            click.echo(f"{e.seq:>6} {e.t_ms:>10} {e.name:<24} {json.dumps(e.fields, sort_keys=True)}")
    click.echo(f"{len(events)} event(s) in the log" + (f", {bad} not readable as events" if bad else ""), err=True)
