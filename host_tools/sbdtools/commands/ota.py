"""`sbd ota`: publish signed app updates as a TUF repository."""

from __future__ import annotations

import functools
import http.server
import shlex
import tempfile
from pathlib import Path

import click

from .. import boards, deploy, ota
from .keys import passphrase


@click.group("ota")
def cli() -> None:
    """Signed updates: a TUF repository made with python-tuf (docs/ota.md)."""


_PUB = click.Path(exists=True, dir_okay=False, path_type=Path)


def _keys(paths: tuple[Path, ...]) -> list[ota.SSlibKey]:
    return [ota.load_public(p) for p in paths]


@cli.command("init")
@click.argument("repo", type=click.Path(file_okay=False, path_type=Path))
@click.option("--root-key", "root", multiple=True, required=True, type=_PUB)
@click.option("--root-threshold", default=1, show_default=True)
@click.option("--targets-key", "targets", multiple=True, required=True, type=_PUB)
@click.option("--snapshot-key", "snapshot", multiple=True, required=True, type=_PUB)
@click.option(
    "--timestamp-key", "timestamp", multiple=True, required=True, type=click.Path(exists=True, path_type=Path)
)
def init(
    repo: Path,
    root: tuple[Path, ...],
    root_threshold: int,
    targets: tuple[Path, ...],
    snapshot: tuple[Path, ...],
    timestamp: tuple[Path, ...],
) -> None:
    """Make a repository naming the public keys (.pub files) of each role."""
    keys = {"root": _keys(root), "targets": _keys(targets), "snapshot": _keys(snapshot), "timestamp": _keys(timestamp)}
    ota.init_repo(repo, keys, {"root": root_threshold})
    click.echo(f"{repo}: repository made; sign every role (sbd ota sign), then pin metadata/1.root.json")


@cli.command("add")
@click.argument("repo", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("appdir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--board", required=True, help="board config name, e.g. pico_w")
@click.option("--product", required=True)
@click.option("--version", "version", required=True, help="the version people see, e.g. 1.4.0")
@click.option("--release", type=int, default=None, help="release number (default: the newest + 1)")
@click.option("--floor", type=int, default=0, help="security floor: devices refuse releases below it afterwards")
def add(repo: Path, appdir: Path, board: str, product: str, version: str, release: int | None, floor: int) -> None:
    """Compile APPDIR for BOARD with mpy-cross and add it as a release."""
    cfg = boards.load(board)
    with tempfile.TemporaryDirectory(prefix="sbd-ota-") as tmp:
        out = Path(tmp) / "app"
        names = deploy.build_bundle(out, arch=cfg.mpy_arch, app=appdir, with_sdk=False)
        files = {n: (out / n).read_bytes() for n in names}
    n = ota.add_release(repo, files, product=product, board=board, version=version, release=release, floor=floor)
    click.echo(f"{repo}: release {n} ({len(files)} files); sign targets, snapshot and timestamp")


@cli.command("sign")
@click.argument("repo", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--role", required=True, type=click.Choice(ota.ROLES))
@click.option("--key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="encrypted key file")
@click.option("--signer", help="external signer command: payload on stdin, signature on stdout")
@click.option("--public", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="the signer's .pub file")
def sign(repo: Path, role: str, key: Path | None, signer: str | None, public: Path | None) -> None:
    """Sign ROLE with a key file or an external signer (HSM, KMS, offline machine)."""
    s: ota.Signer
    if key is not None and signer is None:
        s = ota.load_signer(key, passphrase())
    elif signer is not None and key is None and public is not None:
        s = ota.CommandSigner(shlex.split(signer), ota.load_public(public))
    else:
        raise click.UsageError("give --key FILE, or --signer CMD with --public FILE.pub")
    n = ota.sign_role(repo, role, s)
    click.echo(f"{repo}: {role} has {n} signature(s)")


@cli.command("timestamp")
@click.argument("repo", type=click.Path(file_okay=False, exists=True, path_type=Path))
def timestamp(repo: Path) -> None:
    """A new timestamp version (then sign it): devices refuse an expired one."""
    ota.timestamp_again(repo)


@cli.command("serve")
@click.argument("repo", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True)
def serve(repo: Path, host: str, port: int) -> None:
    """Serve REPO over HTTP (for tests and small fleets; use any static host in production)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(repo))
    with http.server.ThreadingHTTPServer((host, port), handler) as srv:
        click.echo(f"serving {repo} on http://{host}:{srv.server_address[1]}/")
        srv.serve_forever()
