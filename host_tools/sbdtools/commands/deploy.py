"""`sbd deploy`: compile the SDK and an app for what the board says it loads, copy what changed."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from .. import boards, deploy, doctor
from ..errors import SbdError, VBoardError
from ..mpytools import require_tool
from ..vboard import serial, store


def deploy_to_vboard(name: str, app: Path | None, *, with_sdk: bool = True, show_progress: bool = True) -> int:
    """Deploy to a virtual board over its pty, as to a real board.  Returns how many files were copied."""
    return sync_vboard(name, app, with_sdk=with_sdk, show_progress=show_progress).copied


def sync_vboard(
    name: str,
    app: Path | None,
    *,
    with_sdk: bool = True,
    delete: bool = False,
    show_progress: bool = True,
    probe: str = deploy.PROBE,
) -> deploy.Summary:
    """`deploy_to_port` on a virtual board's pty (started for the call if it is not served)."""
    vb = store.get(name)
    started = not vb.state().get("pty")
    port = serial.start_background(vb, tied_to_caller=True)
    try:
        return deploy_to_port(port, app, with_sdk=with_sdk, delete=delete, show_progress=show_progress, probe=probe)
    finally:
        if started:
            serial.stop_background(vb)
            _wait_released(vb)


def _wait_released(vb: store.VBoard, timeout: float = 10.0) -> None:
    """Wait until the stopped server's board process has let go of the board, so
    that the next command (`sbd vboard run`) finds it free."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with vb.locked():
                return
        except VBoardError:
            if time.monotonic() > deadline:
                return  # the next command says the board is in use
            time.sleep(0.05)


def deploy_to_port(
    port: str,
    app: Path | None,
    *,
    board: boards.BoardConfig | None = None,
    with_sdk: bool = True,
    delete: bool = False,
    show_progress: bool = True,
    probe: str = deploy.PROBE,
) -> deploy.Summary:
    """Read the board's .mpy version and arch, check the local mpy-cross and
    --board against it, compile for it and copy only what changed."""
    info = deploy.read_board(port, probe=probe)
    if board is not None:
        deploy.check_board_option(info, board.name, board.mpy_arch, board.family)
    mc = doctor.mpy_cross_info(require_tool("mpy-cross"))
    if isinstance(mc, str):
        raise SbdError(mc)
    deploy.check_compiler(info, (mc.mpy_version, mc.mpy_sub_version), ".".join(map(str, mc.version)), with_sdk=with_sdk)
    with tempfile.TemporaryDirectory(prefix="sbd-bundle-") as tmp:
        bundle = Path(tmp)
        files = deploy.build_bundle(bundle, arch=info.arch, app=app, with_sdk=with_sdk)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[file]}"),
        )
        with Progress(*columns, disable=not show_progress, transient=True) as prog:
            task = prog.add_task(f"copying to {port}", total=None, file="hashing the board's files")

            def step(done: int, total: int, name: str) -> None:
                prog.update(task, completed=done, total=total, file=name)

            summary = deploy.sync(port, bundle, files, delete=delete, with_sdk=with_sdk, progress=step)
    return deploy.Summary(summary.copied, summary.unchanged, summary.removed, info)


@click.command("deploy")
@click.option(
    "--app",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="App folder (with main.py) to put on the board.",
)
@click.option("--port", help="Serial port of a real board (e.g. /dev/ttyACM0).")
@click.option(
    "--board",
    help=f"Board type of --port: {', '.join(boards.names())}. A cross-check: sbd compiles for the "
    "mpy version and arch the board reports, and stops if they do not fit this board type.",
)
@click.option("--vboard", "vboard_name", help="Deploy to this virtual board instead of a serial port.")
@click.option("--no-sdk", is_flag=True, help="Copy only the app, not the sbd SDK.")
@click.option(
    "--delete",
    is_flag=True,
    help="Also remove files under the folders deployed to (/lib/sbd, /lib, the app's folders) that the "
    "bundle no longer has. Never touches /.sbd.",
)
def cli(
    app: Path | None, port: str | None, board: str | None, vboard_name: str | None, no_sdk: bool, delete: bool
) -> None:
    """Compile the sbd SDK (and an app) with mpy-cross and copy what changed with mpremote.

    sbd first asks the board which .mpy version and native architecture it
    loads (sys.implementation._mpy) and refuses if the local mpy-cross cannot
    produce that version. The SDK goes to /lib/sbd as .mpy for the board's
    architecture, the app's boot.py and main.py to / as source, its other
    modules to /lib as .mpy. Only files whose SHA-256 differs from the
    board's copy are copied, and checked again afterwards; nothing is
    removed unless --delete.

    \b
    sbd deploy --vboard b1 --app examples/minimal
    sbd deploy --port /dev/ttyACM0 --board pico_w --app examples/minimal
    """
    if (port is None) == (vboard_name is None):
        raise click.UsageError("give either --port (a real board) or --vboard (a virtual board)")
    if app is None and no_sdk:
        raise click.UsageError("nothing to deploy: --no-sdk without --app")
    if vboard_name:
        s = sync_vboard(vboard_name, app, with_sdk=not no_sdk, delete=delete)
        where = f"virtual board {vboard_name}"
    else:
        assert port is not None
        cfg = boards.load(board) if board else None
        s = deploy_to_port(port, app, board=cfg, with_sdk=not no_sdk, delete=delete)
        where = f"{port} ({cfg.title})" if cfg else port
    assert s.board is not None
    click.echo(f"deployed to {where}, {s.board.describe()}: {s.line()}")
