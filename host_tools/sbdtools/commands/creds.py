"""`sbd creds`: the credential store on a board (a thin layer over sbdtools.credstore)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import click

from .. import boards, credstore, station

F = TypeVar("F", bound=Callable[..., object])


def _target(fn: F) -> F:
    fn = click.option(
        "--board", default="pico_w", show_default=True, help=f"Board type of --port: {', '.join(boards.names())}."
    )(fn)
    fn = click.option("--vboard", "vboard_name", metavar="NAME", help="A virtual board.")(fn)
    fn = click.option("--port", metavar="DEV", help="Serial port of a real board (e.g. /dev/ttyACM0).")(fn)
    return fn


@contextmanager
def _link(port: str | None, vboard_name: str | None, board: str) -> Iterator[station.Link]:
    if (port is None) == (vboard_name is None):
        raise click.UsageError("give either --port (a real board) or --vboard (a virtual board)")
    link = station.VBoardLink(vboard_name) if vboard_name is not None else station.serial_link(str(port), board)
    try:
        yield link
    finally:
        link.close()


@click.group("creds")
def cli() -> None:
    """The encrypted credential store on a board (sbd.creds).

    Values are read without echo (or from stdin with --stdin) and reach the
    board only inside a script sent over the serial line: never on a command
    line, in a log or on the terminal.  `list` shows names only.

    \b
    sbd creds set wifi --vboard b1
    printf %s "$TOKEN" | sbd creds set api.token --port /dev/ttyACM0 --stdin
    sbd creds list --vboard b1
    sbd creds rm wifi --vboard b1
    """


def _read_value(from_stdin: bool) -> bytes:
    if from_stdin:
        data = sys.stdin.buffer.read(credstore.MAX_VALUE + 3)
        # One trailing newline is the shell's, not the secret's.
        if data.endswith(b"\r\n"):
            data = data[:-2]
        elif data.endswith(b"\n"):
            data = data[:-1]
        return data
    value: str = click.prompt("Value (not shown)", hide_input=True, confirmation_prompt="Again (not shown)")
    return value.encode()


@cli.command("set")
@click.argument("name")
@_target
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the value from stdin (one trailing newline dropped).")
def set_cmd(name: str, port: str | None, vboard_name: str | None, board: str, from_stdin: bool) -> None:
    """Store a value under NAME on the board (replacing any old one)."""
    credstore.check_name(name)
    value = _read_value(from_stdin)
    credstore.check_value(value)
    with _link(port, vboard_name, board) as link:
        credstore.set_value(link, name, value)
    click.echo(f"stored {name} ({len(value)} bytes)")


@cli.command("list")
@_target
def list_cmd(port: str | None, vboard_name: str | None, board: str) -> None:
    """The names stored on the board, one a line (never the values)."""
    with _link(port, vboard_name, board) as link:
        for n in credstore.list_names(link):
            click.echo(n)


@cli.command("rm")
@click.argument("name")
@_target
def rm_cmd(name: str, port: str | None, vboard_name: str | None, board: str) -> None:
    """Remove NAME's value from the board."""
    credstore.check_name(name)
    with _link(port, vboard_name, board) as link:
        credstore.remove(link, name)
    click.echo(f"removed {name}")


@cli.command("wipe")
@_target
@click.confirmation_option(prompt="Erase every credential on the board?")
def wipe_cmd(port: str | None, vboard_name: str | None, board: str) -> None:
    """Erase the whole store (also a damaged one)."""
    with _link(port, vboard_name, board) as link:
        credstore.wipe(link)
    click.echo("wiped")
