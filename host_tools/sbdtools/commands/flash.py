"""`sbd flash …`: write MicroPython firmware or a per-device image to real boards."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from .. import boards, station
from ..errors import SbdError
from ..flash import firmware, targets
from ..provision import factorydb
from . import options

_ALLOW_HELP = "The firmware allow-list: SHA-256s of the firmware files you trust (env SBD_FIRMWARE_ALLOW)."


def _allow_opt(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--allow-list",
        "allow_list",
        envvar="SBD_FIRMWARE_ALLOW",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help=_ALLOW_HELP,
    )(f)


def _board_opt(f: click.decorators.FC) -> click.decorators.FC:
    return click.option("--board", required=True, type=click.Choice(boards.names()), help="The board type.")(f)


@click.group("flash", invoke_without_command=True)
@click.option("--firmware", "firmware_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--image",
    "image_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A per-device image from `sbd flash image` instead of --firmware.",
)
@click.option("--board", type=click.Choice(boards.names()), help="The board type.")
@click.option(
    "--allow-list",
    "allow_list",
    envvar="SBD_FIRMWARE_ALLOW",
    type=click.Path(dir_okay=False, path_type=Path),
    help=_ALLOW_HELP,
)
@click.option(
    "--port",
    "--ports",
    "ports",
    multiple=True,
    metavar="PORT",
    help="Serial port of an ESP32 board (repeat for several; 'auto': every one found).",
)
@click.option("--erase", is_flag=True, help="ESP32: erase the whole flash first (the filesystem too).")
@click.option("--picotool", "use_picotool", is_flag=True, help="RP2: write with picotool instead of the drive.")
@click.option(
    "--drive-root",
    "drive_roots",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="RP2: where to look for the BOOTSEL drive (default: where desktops mount USB drives).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    firmware_path: Path | None,
    image_path: Path | None,
    board: str | None,
    allow_list: Path | None,
    ports: tuple[str, ...],
    erase: bool,
    use_picotool: bool,
    drive_roots: tuple[Path, ...],
) -> None:
    """Write MicroPython firmware (checked against your allow-list) or a
    per-device image to boards: ESP32 boards through esptool over a serial
    port, Pico W / Pico 2 W by copying a UF2 to the BOOTSEL drive.

    \b
    sbd flash allow micropython-esp32.bin --allow-list firmware-allow.txt
    sbd flash --board esp32 --firmware micropython-esp32.bin --port auto
    sbd flash --board pico_w --firmware RPI_PICO_W.uf2
    sbd flash image --board esp32 --firmware fw.bin --uid 246f28a1b2c3 --out dev.bin ...
    sbd flash --board esp32 --image dev.bin --port /dev/ttyUSB0
    """
    if ctx.invoked_subcommand is not None:
        return
    if board is None:
        raise click.UsageError("--board is required (`sbd flash detect` lists the boards it finds)")
    if (firmware_path is None) == (image_path is None):
        raise click.UsageError("give exactly one of --firmware or --image")
    cfg = boards.load(board)
    if firmware_path is not None:
        if allow_list is None:
            raise click.UsageError("--firmware needs --allow-list (or SBD_FIRMWARE_ALLOW)")
        data = firmware.read_firmware(firmware_path)
        digest = firmware.check_allowed(data, allow_list, str(firmware_path))
        firmware.check_firmware(data, cfg, str(firmware_path))
        address = cfg.firmware_offset
        click.echo(f"{firmware_path}: on the allow-list (SHA-256 {digest[:16]}…)", err=True)
        source = firmware_path
    else:
        assert image_path is not None
        data = firmware.read_firmware(image_path)
        # A per-device image: the firmware inside was checked against the
        # allow-list when it was built; here its structure is checked again.
        firmware.check_image(data, cfg, str(image_path))
        address = 0 if cfg.firmware_format == "bin" else cfg.firmware_offset
        source = image_path
    if cfg.family == "rp2":
        if ports:
            raise click.UsageError("RP2 boards are written through their BOOTSEL drive, not a --port")
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), transient=True) as bar:
            task = bar.add_task(f"copying {source.name}", total=len(data))
            where = targets.flash_rp2(
                data,
                cfg,
                image_path=source,
                roots=list(drive_roots) or None,
                use_picotool=use_picotool,
                progress=lambda done, total: bar.update(task, completed=done),
            )
        click.echo(f"{source.name} written to {where}; the board restarts into it")
        return
    found = list(ports)
    if not found:
        raise click.UsageError("ESP32 boards need --port PORT (or --port auto)")
    if found == ["auto"]:
        found = [f.device for f in targets.detect(board=board)]
        if not found:
            raise SbdError(f"no {board} board found on any serial port (`sbd flash detect` lists what is attached)")
    if len(found) == 1:
        chip = targets.flash_esp32(found[0], data, cfg, address=address, erase=erase, show=True)
        click.echo(f"{found[0]}: {chip}: {source.name} written at {address:#x} and verified")
        return
    click.echo(f"writing {source.name} to {len(found)} boards: {', '.join(found)}", err=True)
    results = targets.flash_many(
        found, lambda p: targets.flash_esp32(p, data, cfg, address=address, erase=erase, show=True), jobs=len(found)
    )
    for r in results:
        click.echo(f"{r.target}: {'ok, ' + r.detail + ' written and verified' if r.ok else 'FAILED: ' + r.detail}")
    failed = [r for r in results if not r.ok]
    if failed:
        raise SbdError(f"{len(failed)} of {len(results)} boards failed; re-run with just those --port values")


@cli.command("allow")
@click.argument("firmware_path", metavar="FIRMWARE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_allow_opt
@click.option("--note", default="", help="What the file is (default: its name).")
def allow_cmd(firmware_path: Path, allow_list: Path, note: str) -> None:
    """Add FIRMWARE's SHA-256 to the allow-list (made if missing)."""
    digest = firmware.allow(allow_list, firmware_path, note)
    click.echo(f"{digest}  {firmware_path.name}: allowed in {allow_list}")


@cli.command("detect")
def detect_cmd() -> None:
    """List attached boards (serial ports by USB id, BOOTSEL drives by label)."""
    any_found = False
    for f in targets.detect():
        any_found = True
        click.echo(f"{f.device}: {f.what} ({' or '.join(f.boards)})")
    for name in boards.names():
        for d in targets.find_bootsel(boards.load(name)):
            any_found = True
            click.echo(f"{d}: BOOTSEL drive ({name})")
    if not any_found:
        click.echo("no known board attached (`sbd doctor` checks USB permissions and drivers)")


@cli.command("image")
@_board_opt
@click.option(
    "--firmware", "firmware_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@_allow_opt
@click.option(
    "--uid", required=True, callback=options.unique_id, help="The board's unique id in hex (machine.unique_id())."
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The image file to write.")
@click.option("--model", required=True)
@click.option("--support-end", required=True, help="YYYY-MM-DD: end of security updates.")
@click.option("--disclosure", required=True, help="Vulnerability disclosure contact.")
@click.option("--db", "db_url", required=True, help="Factory database (file path or postgresql:// URL).")
@click.option("--new-db", is_flag=True, help="Create the database file if missing.")
@click.option("--labels", "labels_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--show-password", is_flag=True, help="Print the board's password (it is on the label).")
def image_cmd(
    board: str,
    firmware_path: Path,
    allow_list: Path,
    uid: bytes,
    out: Path,
    model: str,
    support_end: str,
    disclosure: str,
    db_url: str,
    new_db: bool,
    labels_dir: Path,
    show_password: bool,
) -> None:
    """Build one board's image: the firmware plus a filesystem with the SDK
    and its factory record (a merged .bin for ESP32, a .uf2 for RP2)."""
    cfg = boards.load(board)
    product = station.Product(model, support_end, disclosure)
    product.check()
    opts = station.Options(labels_dir=labels_dir, keep_password=show_password)
    with factorydb.open_db(db_url, create=new_db) as db:
        img, outcome = firmware.build_device_image(out, cfg, firmware_path, allow_list, uid, db, product, opts)
    where = "flash it at 0x0" if img.format == "bin" else "copy it to the BOOTSEL drive"
    click.echo(f"{out}: {board} board {outcome.serial}; {where} (`sbd flash --board {board} --image {out}`)")
    if show_password and outcome.password:
        click.echo(f"password: {outcome.password}")
