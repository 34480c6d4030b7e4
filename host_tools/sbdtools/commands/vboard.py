"""`sbd vboard …`: virtual boards (real MicroPython booting a flash image)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from .. import boards
from ..errors import VBoardError
from ..vboard import runner, serial, store

_ENDED = {
    runner.EXIT: "finished",
    runner.POWER_CUT: "lost power",
    runner.HARD_RESET_REQ: "reset itself (machine.reset)",
    runner.SOFT_RESET_REQ: "soft-reset itself",
    runner.WATCHDOG: "was reset by its watchdog",
    runner.TIMEOUT: "was stopped: timed out",
    runner.CRASH: "crashed",
}


def _parse_uid(value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise VBoardError(f"--uid must be hex digits, got {value!r}") from None


MAX_SCRIPT_BYTES = 1024 * 1024


class _Timeout(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """Seconds, finite and within bounds (FloatRange lets NaN through)."""

    name = "seconds"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        import math

        try:
            v = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(v) or not 0.1 <= v <= 7 * 24 * 3600:
            self.fail(f"{value!r} is not between 0.1 and {7 * 24 * 3600} seconds", param, ctx)
        return v


_TIMEOUT = _Timeout()


def _read_script(path: Path) -> str:
    """A host script for `exec -f`: a regular file, bounded, UTF-8."""
    import stat

    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise VBoardError(f"{path}: not a regular file")
        if st.st_size > MAX_SCRIPT_BYTES:
            raise VBoardError(f"{path}: {st.st_size} bytes; a script may be at most {MAX_SCRIPT_BYTES}")
        with open(path, "rb") as f:
            data = f.read(MAX_SCRIPT_BYTES + 1)
    except OSError as e:
        raise VBoardError(f"{path}: cannot read ({e.strerror})") from e
    if len(data) > MAX_SCRIPT_BYTES:
        raise VBoardError(f"{path}: larger than {MAX_SCRIPT_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise VBoardError(f"{path}: not UTF-8 text (byte {e.start}); MicroPython source must be UTF-8") from e


def _stream(chunk: bytes) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.flush()


@click.group("vboard")
def cli() -> None:
    """Virtual boards: the real MicroPython unix port booting boot.py and
    main.py from a littlefs2 volume inside a flash image laid out like an
    ESP32 or a Pico, with its own unique id, served on a pty for mpremote.

    \b
    sbd vboard new b1 --board pico_w     make one (erased flash, new unique id)
    sbd vboard serial b1                 serve it on a pty; then e.g.
      mpremote connect /dev/pts/N resume fs ls
    sbd vboard run b1                    power on, show boot.py/main.py output
    sbd vboard exec b1 'print(1)'        power on, run code instead of main.py
    sbd vboard ls | stop b1 | rm b1

    Boards live in $SBD_HOME/vboards (default ~/.local/share/sbd/vboards).
    """


@cli.command("new")
@click.argument("name")
@click.option(
    "--board", "board", default="pico_w", show_default=True, type=click.Choice(boards.names()), help="Board to emulate."
)
@click.option("--uid", help="Unique id in hex (default: random; 6 bytes on ESP32, 8 on Pico).")
@click.option("--heap", type=int, help="Heap for Python in bytes (default: the board's real heap).")
@click.option("--force", is_flag=True, help="Replace a board of the same name.")
@click.option(
    "--fs-from",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Start with a filesystem built on the host from this folder.",
)
def new_cmd(name: str, board: str, uid: str | None, heap: int | None, force: bool, fs_from: Path | None) -> None:
    """Create a virtual board NAME with erased flash laid out like BOARD."""
    vb = store.create(name, board, uid=_parse_uid(uid), heap=heap, force=force, fs_from=fs_from)
    click.echo(
        f"created virtual board {vb.name}: {vb.board.title}, unique id {vb.uid.hex()}, "
        f"heap {vb.heap // 1024} KiB, flash image {vb.image}"
    )
    click.echo(f"next: `sbd vboard serial {vb.name}` to reach it with mpremote, or `sbd vboard run {vb.name}`")


@cli.command("ls")
def ls_cmd() -> None:
    """List virtual boards and their state."""
    table = Table(title=f"virtual boards in {store.home() / 'vboards'}")
    for col in ("name", "board", "unique id", "heap", "state"):
        table.add_column(col)
    for vb in store.list_boards():
        st = vb.state()
        state = f"serving on {st['pty']} (boots: {st.get('boots', 0)})" if st.get("pty") else "off"
        table.add_row(vb.name, vb.board.name, vb.uid.hex(), f"{vb.heap // 1024} KiB", state)
    Console().print(table)


@cli.command("rm")
@click.argument("name")
def rm_cmd(name: str) -> None:
    """Remove virtual board NAME (stops it first if it is being served)."""
    store.remove(name)
    click.echo(f"removed virtual board {name}")


@cli.command("run")
@click.argument("name")
@click.option(
    "--timeout", type=_TIMEOUT, default=60.0, show_default=True, help="Power the board off after this many seconds."
)
def run_cmd(name: str, timeout: float) -> None:
    """Power on NAME: run boot.py then main.py and show their output.

    The board powers off when main.py returns (or at --timeout).  Use
    `sbd vboard serial` for an interactive REPL.
    """
    vb = store.get(name)
    res = runner.boot(vb, timeout=timeout, on_output=_stream)
    _report(vb, res)


@cli.command("exec")
@click.argument("name")
@click.argument("code", required=False)
@click.option(
    "-f", "--file", "file", type=click.Path(dir_okay=False, path_type=Path), help="Run this host file instead of CODE."
)
@click.option(
    "--cut-at",
    type=click.IntRange(min=0),
    default=0,
    help="Cut power at this flash program/erase operation (counted from power-on).",
)
@click.option(
    "--timeout", type=_TIMEOUT, default=60.0, show_default=True, help="Power the board off after this many seconds."
)
def exec_cmd(name: str, code: str | None, file: Path | None, cut_at: int, timeout: float) -> None:
    """Power on NAME, run boot.py, then CODE (or --file) in place of main.py.

    Exits non-zero when CODE ends in an uncaught exception (or the board
    resets, halts or times out)."""
    if (code is None) == (file is None):
        raise click.UsageError("give CODE or --file (one of them)")
    src = _read_script(file) if file else code
    if src is None or len(src.encode()) > MAX_SCRIPT_BYTES:
        raise VBoardError(f"the code is larger than {MAX_SCRIPT_BYTES} bytes")
    vb = store.get(name)
    res = runner.boot(vb, script=src, cut_at=cut_at, timeout=timeout, on_output=_stream)
    _report(vb, res, quiet_ok=True)


def _report(vb: store.VBoard, res: runner.BootResult, *, quiet_ok: bool = False) -> None:
    if res.formatted:
        click.echo(f"vboard {vb.name}: the filesystem was blank or unreadable and was formatted", err=True)
    if res.halted:
        click.echo(f"vboard {vb.name}: the filesystem is corrupt; the board halted (as the ESP32 port does)", err=True)
    ops = f"; flash operations since power-on: {res.end_ops}" if res.end_ops is not None else ""
    if res.ended == runner.EXIT and res.uncaught:
        # The traceback is in the output already; scripts and CI must see the failure.
        raise VBoardError(f"virtual board {vb.name}: the code ended with an uncaught exception")
    if res.ended == runner.EXIT:
        if not quiet_ok:
            click.echo(f"vboard {vb.name}: {_ENDED[res.ended]}{ops}", err=True)
        return
    raise VBoardError(f"virtual board {vb.name} {_ENDED[res.ended]} (exit status {res.returncode})")


@cli.command("serial")
@click.argument("name")
@click.option("--foreground", is_flag=True, help="Serve in this process until Ctrl-C.")
def serial_cmd(name: str, foreground: bool) -> None:
    """Serve NAME on a pty that mpremote (or any terminal) can open.

    Soft reboots (Ctrl-D), machine.reset() and the watchdog restart the board
    on the same pty; only `sbd vboard stop NAME` (or Ctrl-C with
    --foreground) ends it.
    """
    vb = store.get(name)
    if foreground:
        serial.serve_forever(
            vb,
            on_ready=lambda p: click.echo(
                f"serving {name} on {p}; try: mpremote connect {p} resume fs ls   (Ctrl-C to stop)"
            ),
        )
        return
    path = serial.start_background(vb)
    click.echo(path)
    click.echo(f"serving {name} on {path}; try: mpremote connect {path} resume fs ls", err=True)
    click.echo(f"stop it with: sbd vboard stop {name}", err=True)


@cli.command("stop")
@click.argument("name")
def stop_cmd(name: str) -> None:
    """Stop serving NAME (the board powers off)."""
    vb = store.get(name)
    if serial.stop_background(vb):
        click.echo(f"stopped virtual board {name}")
    else:
        click.echo(f"virtual board {name} was not running")
