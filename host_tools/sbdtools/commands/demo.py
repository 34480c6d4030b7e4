"""`sbd demo`: a virtual board running the minimal example, start to finish."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..vboard import runner, store
from .deploy import deploy_to_vboard


def example_dir(name: str) -> Path:
    here = Path(__file__).resolve().parents[1]
    for cand in (here.parent.parent / "examples" / name, here / "examples" / name):
        if (cand / "main.py").is_file():
            return cand
    raise click.ClickException(f"example {name!r} not found")


def say(msg: str) -> None:
    click.secho(msg, fg="cyan", err=True)


def _echo(chunk: bytes) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.flush()


@click.command("demo")
@click.option("--board", default="pico_w", show_default=True, help="Board the virtual board emulates.")
@click.option("--name", default="demo", show_default=True, help="Name of the virtual board to (re)create.")
def cli(board: str, name: str) -> None:
    """Create a virtual board, deploy the SDK and the minimal example to it
    with mpy-cross and mpremote, then boot it twice and show its output."""
    say(f"[1/4] creating virtual board {name!r} ({board})")
    vb = store.create(name, board, force=True)
    say(f"      unique id {vb.uid.hex()}, flash image {vb.image}")
    say("[2/4] first power-on: the blank flash gets a littlefs2 filesystem")
    res = runner.boot(vb, script="pass")
    say("      formatted" if res.formatted else "      filesystem already there")
    say("[3/4] deploying the sbd SDK and examples/minimal over the board's serial pty (mpremote)")
    n = deploy_to_vboard(name, example_dir("minimal"))
    say(f"      {n} files copied")
    for i in (1, 2):
        say("[4/4] power-on: boot.py, then main.py" if i == 1 else "      and once more (the boot count persists):")
        res = runner.boot(vb, on_output=_echo)
        if res.ended != runner.EXIT:
            raise click.ClickException(f"the board {res.ended} instead of finishing main.py")
    say(f"done. Try: sbd vboard serial {name}   then   mpremote connect <pty> resume repl")
