"""`sbd provision`: the factory station (a thin layer over sbdtools.station)."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import click

from .. import boards, station
from ..errors import SbdError
from ..provision import escrow, factorydb, labels
from . import options


def _product(
    model: str, support_end: str, disclosure: str, serial_prefix: str, setup_ssid: str | None, trust_root: str | None
) -> station.Product:
    pin = None
    if trust_root:
        try:
            pin = bytes.fromhex(trust_root)
        except ValueError:
            raise SbdError("--trust-root: the SHA-256 of the pinned root, as 64 hex digits") from None
    p = station.Product(model, support_end, disclosure, serial_prefix, setup_ssid, pin)
    p.check()
    return p


def _escrow_key(path: Path | None) -> Any:
    if path is None:
        return None
    try:
        return escrow.load_public_key(path.read_bytes()[: 64 * 1024])
    except OSError as e:
        raise SbdError(f"--escrow-key {path}: {e.strerror}") from None


class _Display:
    """One line per board, redrawn in place on a terminal; plain lines otherwise."""

    def __init__(self, targets: list[str], enabled: bool) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.fields[board]:<24}"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            disable=not enabled,
            transient=False,
        )
        self._tasks = {t: self._progress.add_task("waiting", board=t[:24], total=None) for t in targets}
        self._lock = threading.Lock()

    def __enter__(self) -> _Display:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, target: str, step: str) -> None:
        with self._lock:
            self._progress.update(self._tasks[target], description=step)


@click.group("provision", invoke_without_command=True)
@click.option("--vboard", "vboards", multiple=True, metavar="NAME", help="A virtual board (repeat for several).")
@click.option(
    "--port",
    "--ports",
    "ports",
    multiple=True,
    metavar="DEV",
    help="A real board's serial port (repeat for several), or `auto` for every known board attached.",
)
@click.option("--board", type=click.Choice(boards.names()), help="Board type of the --port boards.")
@click.option(
    "--image",
    "image",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a per-device filesystem image instead of provisioning a connected board.",
)
@click.option(
    "--uid",
    callback=options.unique_id,
    help="With --image: the board's unique id in hex (ESP32: its MAC, `esptool read_mac`).",
)
@click.option("--model", help="Model designation, in the record and on the label.")
@click.option("--support-end", metavar="YYYY-MM-DD", help="Last day of security updates (ETSI EN 303 645 5.3-13).")
@click.option("--disclosure", metavar="CONTACT", help="Vulnerability disclosure contact: URL or e-mail.")
@click.option("--db", "db_url", help="Factory database: a SQLite path or sqlite:///path, or postgresql://...")
@click.option(
    "--labels",
    "labels_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the labels (PNG and PDF, mode 0600: they hold passwords).",
)
@click.option(
    "--stock", type=click.Choice(sorted(labels.STOCKS)), default="62mm", show_default=True, help="Label stock."
)
@click.option(
    "--serial-prefix",
    default=factorydb.DEFAULT_SERIAL_PREFIX,
    show_default=True,
    help="Serials are this prefix and a number.",
)
@click.option("--setup-ssid", help="The product's setup access point: the label also gets a WIFI QR code.")
@click.option("--trust-root", metavar="SHA256", help="Pin this update trust root (64 hex digits) in the record.")
@click.option(
    "--escrow-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Vendor X25519 public key: keep each password sealed to it in the database.",
)
@click.option(
    "--broker-creds",
    "broker_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Each board makes its own MQTT secret (kept in its credential store); "
    "add its hashed line to DIR/passwd and make DIR/acl for Mosquitto.",
)
@click.option("--reprovision", is_flag=True, help="Replace the record of boards already provisioned (logged).")
@click.option("--new-db", is_flag=True, help="Create the SQLite database if it does not exist yet.")
@click.option(
    "--jobs",
    type=click.IntRange(1, station.MAX_BOARDS),
    default=4,
    show_default=True,
    help="Boards provisioned at the same time.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(1, 3600),
    default=station.SCRIPT_TIMEOUT,
    show_default=True,
    help="Seconds a board may take to answer one step.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON (without passwords).")
@click.option("--show-passwords", is_flag=True, help="Also print the passwords (JSON and summary).")
@click.pass_context
def cli(
    ctx: click.Context,
    vboards: tuple[str, ...],
    ports: tuple[str, ...],
    board: str | None,
    image: Path | None,
    uid: bytes | None,
    model: str | None,
    support_end: str | None,
    disclosure: str | None,
    db_url: str | None,
    labels_dir: Path | None,
    stock: str,
    serial_prefix: str,
    setup_ssid: str | None,
    trust_root: str | None,
    escrow_key: Path | None,
    broker_dir: Path | None,
    reprovision: bool,
    new_db: bool,
    jobs: int,
    timeout: float,
    as_json: bool,
    show_passwords: bool,
) -> None:
    """Give boards their own identity and password: the factory station.

    For each board: put the SDK on it if needed, make its root key on the
    board, write its factory record, self-test it (the record is bound to the
    board and the new password verifies), write its label, and record it in
    the factory database (never the password itself).  One failing board
    never stops the others; re-running after a crash finishes or redoes
    half-provisioned boards.

    \b
    sbd provision --vboard b1 --vboard b2 --model "Acme 1" --support-end 2031-12-31 \\
        --disclosure security@acme.example --db factory.db --new-db --labels labels/
    sbd provision --ports auto --board pico_w ...
    sbd provision --image dev.img --board esp32 --uid 246f28a1b2c3 ...
    sbd provision recover --db factory.db --serial SBD-000001 --escrow-private-key vendor.pem
    """
    if ctx.invoked_subcommand is not None:
        return
    given = [n for n, v in (("--vboard", vboards), ("--port", ports), ("--image", image)) if v]
    if len(given) != 1:
        raise click.UsageError("give the boards with exactly one of --vboard, --port or --image")
    for name, v in (
        ("--model", model),
        ("--support-end", support_end),
        ("--disclosure", disclosure),
        ("--db", db_url),
        ("--labels", labels_dir),
    ):
        if not v:
            raise click.UsageError(f"{name} is required")
    assert model and support_end and disclosure and db_url and labels_dir
    product = _product(model, support_end, disclosure, serial_prefix, setup_ssid, trust_root)
    opts = station.Options(
        labels_dir=labels_dir,
        stock=stock,
        escrow_key=_escrow_key(escrow_key),
        reprovision=reprovision,
        keep_password=show_passwords,
        broker_dir=broker_dir,
    )
    with factorydb.open_db(db_url, create=new_db) as db:
        if image is not None:
            if board is None or uid is None:
                raise click.UsageError("--image needs --board and --uid")
            if broker_dir is not None:
                raise click.UsageError("--broker-creds needs the board online: its secret is drawn on the board")
            out = station.provision_image(image, db, boards.load(board), uid, product, opts)
            _report([out], as_json, show_passwords)
            click.echo(
                f"image {image}: flash it at the filesystem offset of {board} "
                f"(0x{boards.load(board).filesystem.offset:x})",
                err=True,
            )
            return
        targets: list[str]
        if vboards:
            targets = list(vboards)

            def open_link(t: str) -> station.Link:
                return station.VBoardLink(t, timeout=timeout)
        else:
            if list(ports) == ["auto"]:
                found = station.detect_ports(board)
                if not found:
                    raise SbdError("no known board found on any serial port (`sbd doctor` lists the ports)")
                kinds = dict(found)
                targets = [d for d, _ in found]
            else:
                if board is None:
                    raise click.UsageError("--port needs --board (or --port auto)")
                kinds = {p: board for p in ports}
                targets = list(ports)

            def open_link(t: str) -> station.Link:
                return station.serial_link(t, kinds[t], timeout=timeout)

        with _Display(targets, enabled=not as_json and sys.stderr.isatty()) as display:
            results = station.provision_many(open_link, targets, db, product, opts, jobs=jobs, progress=display.update)
    _report(results, as_json, show_passwords)
    failed = [r for r in results if not r.ok]
    if len(results) == 1 and failed:
        raise SbdError(failed[0].error or "the board failed")
    if failed:
        raise SbdError(f"{len(failed)} of {len(results)} boards failed (see above); re-run to retry them")


def _report(results: list[station.Outcome], as_json: bool, show_passwords: bool) -> None:
    if as_json:
        click.echo(json.dumps([r.as_dict(with_password=show_passwords) for r in results], indent=1))
        return
    for r in results:
        if r.ok:
            extra = f"  password {r.password}" if show_passwords and r.password else ""
            click.echo(f"ok      {r.target}: serial {r.serial} ({r.action}), {len(r.labels)} labels{extra}")
        else:
            click.echo(f"FAILED  {r.target}: {r.error}")
    ok = sum(r.ok for r in results)
    click.echo(f"{ok} of {len(results)} boards provisioned")


@cli.command("recover")
@click.option("--db", "db_url", required=True, help="The factory database.")
@click.option("--serial", required=True, help="The board's serial.")
@click.option(
    "--escrow-private-key",
    "key_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The vendor's private key (PEM).",
)
@click.option("--key-password", is_flag=True, help="The PEM is encrypted: ask for its password.")
def recover(db_url: str, serial: str, key_path: Path, key_password: bool) -> None:
    """Recover a board's password from its escrow (needs the vendor's private key)."""
    pw = click.prompt("key password", hide_input=True).encode() if key_password else None
    key = escrow.load_private_key(key_path.read_bytes()[: 64 * 1024], pw)
    with factorydb.open_db(db_url, create=False) as db:
        row = factorydb.get_board_by_serial(db, serial)
        if row is None:
            raise SbdError(f"no board with serial {serial} in this database")
        got = escrow.recover_board(row, key)
    click.echo(got.password)
