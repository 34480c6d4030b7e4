"""`sbd harden …`: ESP32 secure boot v2, flash encryption and eFuse lock-down."""

from __future__ import annotations

from pathlib import Path

import click

from .. import boards, harden
from ..errors import SbdError

_ESP_BOARDS = [n for n in boards.names() if boards.load(n).family == "esp32"]


def _keys_opt(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--keys",
        "keys_dir",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="The key folder (`sbd harden keys`).",
    )(f)


@click.group("harden")
def cli() -> None:
    """Secure boot v2 and flash encryption for ESP32 boards, through
    espsecure and espefuse.  eFuses cannot be unburnt: `sbd harden plan`
    is a dry run unless given --apply, which asks for a typed confirmation.

    \b
    sbd harden keys keys/ && sbd harden backup --keys keys/ --to /media/usb/sbd-keys
    sbd harden sign --keys keys/ app.bin --out app-signed.bin
    sbd harden encrypt --keys keys/ --board esp32 --address 0x10000 app-signed.bin --out app-enc.bin
    sbd harden plan --board esp32 --keys keys/ --backup /media/usb/sbd-keys --port /dev/ttyUSB0 \\
        --signed app-signed.bin --encrypted app-enc.bin --address 0x10000 [--apply]
    """


@cli.command("keys")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def keys_cmd(folder: Path) -> None:
    """Make a secure boot signing key and a flash encryption key in FOLDER."""
    keys = harden.make_keys(folder)
    click.echo(f"{keys.signing}\n{keys.flash}\nback them up now: `sbd harden backup --keys {folder} --to DIR`")


@cli.command("backup")
@_keys_opt
@click.option("--to", "backup", required=True, type=click.Path(file_okay=False, path_type=Path))
def backup_cmd(keys_dir: Path, backup: Path) -> None:
    """Copy the keys to another folder and check the copies read back."""
    for p in harden.backup_keys(harden.Keys(keys_dir), backup):
        click.echo(f"{p}: backed up and read back")


@cli.command("sign")
@_keys_opt
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def sign_cmd(keys_dir: Path, image: Path, out: Path) -> None:
    """Sign IMAGE for secure boot v2 and verify the signature."""
    harden.sign(harden.Keys(keys_dir), image, out)
    click.echo(f"{out}: signed and verified")


@cli.command("encrypt")
@_keys_opt
@click.option("--board", required=True, type=click.Choice(_ESP_BOARDS))
@click.option("--address", required=True, help="Flash address the image goes to (e.g. 0x10000).")
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def encrypt_cmd(keys_dir: Path, board: str, address: str, image: Path, out: Path) -> None:
    """Encrypt IMAGE for its flash address and check it decrypts back."""
    harden.encrypt(harden.Keys(keys_dir), boards.load(board).chip, image, _address(address), out)
    click.echo(f"{out}: encrypted for {address} and checked")


def _address(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise click.UsageError(f"--address: a flash address such as 0x10000, not {text!r}") from None


@cli.command("plan")
@click.option("--board", required=True, type=click.Choice(_ESP_BOARDS))
@_keys_opt
@click.option("--backup", type=click.Path(file_okay=False, path_type=Path), help="Where the key backup is.")
@click.option("--port", help="The board's serial port.")
@click.option(
    "--virtual",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Use espefuse's virtual eFuses kept in this file instead of a board.",
)
@click.option("--signed", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="The signed app image.")
@click.option("--encrypted", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="It, encrypted.")
@click.option("--address", help="Where the app image goes (e.g. 0x10000).")
@click.option("--no-secure-boot", is_flag=True)
@click.option("--no-flash-encryption", is_flag=True)
@click.option("--keep-jtag", is_flag=True, help="Leave JTAG on (development only).")
@click.option("--download", type=click.Choice(harden.DOWNLOAD_MODES), default=None, help="Serial download mode.")
@click.option("--allow-no-download", is_flag=True, help="Accept that --download off closes serial flashing for good.")
@click.option("--apply", "do_apply", is_flag=True, help="Burn the eFuses (asks for the typed confirmation).")
@click.option("--confirm", help="The confirmation phrase, for scripts (the plan prints it).")
def plan_cmd(
    board: str,
    keys_dir: Path,
    backup: Path | None,
    port: str | None,
    virtual: Path | None,
    signed: Path | None,
    encrypted: Path | None,
    address: str | None,
    no_secure_boot: bool,
    no_flash_encryption: bool,
    keep_jtag: bool,
    download: str | None,
    allow_no_download: bool,
    do_apply: bool,
    confirm: str | None,
) -> None:
    """Show what would be burnt on a board and why it would be refused (a dry
    run); with --apply, burn it after the typed confirmation."""
    cfg = boards.load(board)
    if download is None:
        download = "keep" if cfg.chip == "esp32" else "secure"
    profile = harden.Profile(not no_secure_boot, not no_flash_encryption, not keep_jtag, download)
    keys = harden.Keys(keys_dir)
    with harden.efuses(cfg.chip, port=port, virtual=virtual) as cmds:
        p = harden.plan(
            cmds,
            cfg,
            profile,
            keys,
            backup=backup,
            signed=signed,
            encrypted=encrypted,
            address=_address(address) if address else None,
            allow_no_download=allow_no_download,
        )
        for line in p.describe():
            click.echo(line)
        if p.problems:
            raise SbdError(f"{len(p.problems)} pre-flight problem(s); nothing was burnt")
        if not do_apply:
            click.echo(f"dry run: nothing burnt. To burn: add --apply and type {p.phrase!r} when asked")
            return
        if not p.steps:
            click.echo("nothing left to burn")
            return
        phrase = confirm if confirm is not None else click.prompt(f"type {p.phrase!r} to burn these eFuses")
        harden.apply(cmds, p, keys, confirm=phrase)
    click.echo(f"burnt {len(p.steps)} step(s); flash the encrypted, signed image next")
