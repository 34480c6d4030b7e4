"""The `sbd` command: one group, a subcommand per module in sbdtools.commands.

Each subcommand is a thin layer over a library function that a factory can
script directly.  This module is the one error boundary: an SbdError (or a
click usage error) is printed as ``sbd: <message>`` on stderr with a
non-zero exit status, never as a traceback.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import click

from . import __version__, commands
from .errors import SbdError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="sbd")
def group() -> None:
    """sbd: secure-by-design firmware for MicroPython boards.

    Start with `sbd demo` (a virtual board running the minimal example), then
    `sbd vboard --help` for virtual boards and `sbd doctor` to check this
    machine for real boards.
    """


def _register() -> None:
    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{mod.name}")
        cmd = getattr(module, "cli", None)
        if isinstance(cmd, click.Command):
            group.add_command(cmd)


_register()


def main(argv: list[str] | None = None) -> None:
    try:
        rv = group.main(args=argv, prog_name="sbd", standalone_mode=False)
    except SbdError as e:
        click.echo(f"sbd: {e}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("sbd: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("sbd: interrupted", err=True)
        sys.exit(130)
    except OSError as e:
        click.echo(f"sbd: {e.strerror or e}{f': {e.filename}' if e.filename else ''}", err=True)
        sys.exit(1)
    except Exception as e:  # the one boundary: a bug still ends in one line, not a traceback
        if os.environ.get("SBD_DEBUG") == "1":
            raise
        click.echo(
            f"sbd: internal error: {type(e).__name__}: {e} (run with SBD_DEBUG=1 for the traceback "
            "and please report it)",
            err=True,
        )
        sys.exit(2)
    # standalone_mode=False returns a command's ctx.exit(n) status instead of exiting.
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
