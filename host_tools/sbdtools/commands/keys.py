"""`sbd keys`: signing keys for update repositories (Ed25519, encrypted files)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .. import ota


def passphrase(confirm: bool = False, prompt: str = "key passphrase") -> bytes:
    """SBD_KEY_PASSPHRASE for scripts, else a prompt (never an argument:
    arguments end up in shell history and process lists)."""
    env = os.environ.get("SBD_KEY_PASSPHRASE")
    if env is not None:
        return env.encode()
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)).encode()


@click.group("keys")
def cli() -> None:
    """Signing keys for update repositories."""


@cli.command("new")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def new(path: Path) -> None:
    """Make an Ed25519 key: PATH (private, encrypted with a passphrase,
    mode 0600) and PATH.pub (public, for `sbd ota init`)."""
    key = ota.new_key_file(path, passphrase(confirm=True))
    click.echo(f"{path}: key {key.keyid[:16]}… (public half in {path}.pub)")
