"""`sbd fsimage …`: build and read littlefs2 filesystem images on the host."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from .. import boards, fsimage
from ..errors import SbdError

_MAX_IMAGE = 64 * 1024 * 1024


def _board_opt(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--board", required=True, help=f"Board whose filesystem geometry to use: {', '.join(boards.names())}."
    )(f)


def _read(path: Path, *, whole_flash: bool, board: boards.BoardConfig) -> bytes:
    if path.stat().st_size > _MAX_IMAGE:
        raise SbdError(f"{path}: larger than {_MAX_IMAGE} bytes; is this an image?")
    data = path.read_bytes()
    return fsimage.image_from_flash(data, board) if whole_flash else data


@click.group("fsimage")
def cli() -> None:
    """Build a board's littlefs2 filesystem image from a folder, list or
    extract one (the same format MicroPython mounts on the board)."""


@cli.command("build")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@_board_opt
def build_cmd(src: Path, out: Path, board: str) -> None:
    """Build the filesystem image of folder SRC into file OUT."""
    cfg = boards.load(board)
    image = fsimage.build_image(src, cfg)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(image)
    tmp.replace(out)
    used = fsimage.image_usage(image, cfg)
    click.echo(
        f"{out}: {len(image)} bytes for {cfg.name} at flash offset {cfg.filesystem.offset:#x}; "
        f"{used.used} of {used.total} bytes used"
    )


@cli.command("ls")
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_board_opt
@click.option("--flash", "whole_flash", is_flag=True, help="IMAGE is a whole-flash image (e.g. a vboard's flash.bin).")
def ls_cmd(image: Path, board: str, whole_flash: bool) -> None:
    """List the files in a filesystem IMAGE."""
    cfg = boards.load(board)
    table = Table(title=str(image))
    table.add_column("path")
    table.add_column("size", justify="right")
    for e in fsimage.list_image(_read(image, whole_flash=whole_flash, board=cfg), cfg):
        table.add_row(e.path + ("/" if e.is_dir else ""), "" if e.is_dir else str(e.size))
    Console().print(table)


@cli.command("extract")
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@_board_opt
@click.option("--flash", "whole_flash", is_flag=True, help="IMAGE is a whole-flash image.")
def extract_cmd(image: Path, dest: Path, board: str, whole_flash: bool) -> None:
    """Extract a filesystem IMAGE into the new or empty folder DEST."""
    cfg = boards.load(board)
    fsimage.extract_image(_read(image, whole_flash=whole_flash, board=cfg), cfg, dest)
    click.echo(f"extracted {image} into {dest}")
