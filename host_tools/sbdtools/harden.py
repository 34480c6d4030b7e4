"""ESP32 hardening: secure boot v2 and flash encryption, planned, checked and
applied through espsecure and espefuse's Python APIs (`sbd harden`).

Every eFuse step is irreversible, so the flow is: make the keys (never
overwriting one), back them up and check the copy, sign the image (and check
the signature) and encrypt it (and check it decrypts back), then plan.  The
plan is printed as a dry run by default; applying it needs the typed
confirmation phrase (which names the chip's MAC), and pre-flight checks
refuse the known ways boards get bricked: a key missing or not backed up, an
image not signed with the key whose digest would be burnt or not encrypted
with the key that would be burnt, serial download closed for good without
saying so, eFuses already burnt differently, silicon too old for secure boot
v2.  All eFuse writes of a plan go in one espefuse batch.

The eFuses can be espefuse's virtual ones (a file that keeps their state
between calls), which is how the tests run the whole flow.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .boards import BoardConfig
from .errors import SbdError
from .flash.firmware import quiet

SIGNING_KEY = "secure_boot_signing_key.pem"
FLASH_KEY = "flash_encryption_key.bin"
DOWNLOAD_MODES = ("keep", "secure", "off")
CHIPS = ("esp32", "esp32s3")
_UNREADABLE = "holds a key sbd cannot read back"
_ENCRYPTION_ON = ("FLASH_CRYPT_CNT", "SPI_BOOT_CRYPT_CNT")


class HardenError(SbdError):
    """A hardening step was refused or failed."""


# -- keys ----------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    folder: Path

    @property
    def signing(self) -> Path:
        return self.folder / SIGNING_KEY

    @property
    def flash(self) -> Path:
        return self.folder / FLASH_KEY

    def files(self) -> list[Path]:
        return [self.signing, self.flash]


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def make_keys(folder: Path) -> Keys:
    """A secure boot v2 signing key (RSA-3072, made by espsecure) and a
    256-bit flash encryption key, in `folder` (mode 0700); refuses to
    overwrite either: a replaced key bricks every board that has the old one."""
    import espsecure

    keys = Keys(folder)
    for p in keys.files():
        if p.exists():
            raise HardenError(
                f"{p} exists: sbd never replaces a key (boards burnt with it need it); use another folder"
            )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with quiet():
        espsecure.generate_signing_key("2", "rsa3072", str(keys.signing))
    os.chmod(keys.signing, 0o600)
    _write_secret(keys.flash, secrets.token_bytes(32))
    return keys


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def backup_keys(keys: Keys, backup: Path) -> list[Path]:
    """Copy the keys to `backup` (another folder; removable media or a vault
    in practice) and read the copies back."""
    if backup.resolve() == keys.folder.resolve():
        raise HardenError("the backup folder must not be the key folder")
    backup.mkdir(mode=0o700, parents=True, exist_ok=True)
    out = []
    for p in keys.files():
        if not p.is_file():
            raise HardenError(f"{p}: missing; make the keys with `sbd harden keys`")
        dst = backup / p.name
        if dst.exists() and _sha256(dst) != _sha256(p):
            raise HardenError(f"{dst} exists and holds another key; back up into an empty folder")
        if not dst.exists():
            shutil.copyfile(p, dst)
            os.chmod(dst, 0o600)
        if _sha256(dst) != _sha256(p):
            raise HardenError(f"{dst}: the copy does not read back the same; check the backup medium")
        out.append(dst)
    return out


# -- images --------------------------------------------------------------------


def sign(keys: Keys, image: Path, out: Path) -> Path:
    """Sign an app or bootloader image for secure boot v2 (espsecure) and
    verify the signature with the same key."""
    import espsecure

    try:
        with quiet(), open(keys.signing, "rb") as k, open(image, "rb") as d:
            espsecure.sign_data("2", [k], str(out), False, False, None, None, None, d)
    except SbdError:
        raise
    except Exception as e:
        raise HardenError(f"espsecure could not sign {image}: {e}") from e
    if not signed_by(keys, out):
        raise HardenError(f"{out}: the signature does not verify with {keys.signing}")
    return out


def signed_by(keys: Keys, image: Path) -> bool:
    import espsecure

    try:
        with quiet(), open(keys.signing, "rb") as k, open(image, "rb") as d:
            espsecure.verify_signature("2", False, None, k, d)
    except Exception:  # espsecure raises FatalError for any bad signature
        return False
    return True


def _aes_xts(chip: str) -> bool:
    return chip != "esp32"  # ESP32: AES-256 with the tweak; later chips: XTS-AES


def encrypt(keys: Keys, chip: str, image: Path, address: int, out: Path) -> Path:
    """Encrypt an image for `address` with the flash encryption key (espsecure)
    and check it decrypts back to the same bytes."""
    import espsecure

    with quiet(), open(keys.flash, "rb") as k, open(image, "rb") as src, open(out, "wb") as dst:
        espsecure.encrypt_flash_data(k, dst, address, 0xF, _aes_xts(chip), src)
    if decrypt(keys, chip, out, address) != image.read_bytes():
        raise HardenError(f"{out}: does not decrypt back to {image}")
    return out


def decrypt(keys: Keys, chip: str, image: Path, address: int) -> bytes:
    import io

    import espsecure

    class _Out(io.BytesIO):
        name = "<memory>"

    buf = _Out()
    with quiet(), open(keys.flash, "rb") as k, open(image, "rb") as src:
        espsecure.decrypt_flash_data(k, buf, address, 0xF, _aes_xts(chip), src)
    return buf.getvalue()


# -- the plan ------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    what: str
    kind: str  # "efuse", "key" (flash encryption key) or "digest" (secure boot key digest)
    name: str  # eFuse field or key block
    value: int = 1


@dataclass(frozen=True)
class Profile:
    secure_boot: bool = True
    flash_encryption: bool = True
    jtag_off: bool = True
    download: str = "secure"  # keep | secure | off


@dataclass
class Plan:
    chip: str
    profile: Profile
    steps: list[Step]
    done: list[Step] = field(default_factory=list)  # already at the target value
    problems: list[str] = field(default_factory=list)
    mac: str = ""

    @property
    def phrase(self) -> str:
        return f"burn {self.mac}"

    def describe(self) -> list[str]:
        lines = [f"Plan for the {self.chip} with MAC {self.mac} (every step is IRREVERSIBLE):"]
        lines += [f"  - {s.what}" for s in self.steps] or ["  (nothing left to burn)"]
        lines += [f"  = already done: {s.what}" for s in self.done]
        if self.problems:
            lines.append("Refused; fix these first:")
            lines += [f"  ! {p}" for p in self.problems]
        return lines


def steps_for(chip: str, profile: Profile) -> list[Step]:
    if chip not in CHIPS:
        raise HardenError(f"sbd harden knows {', '.join(CHIPS)}; not {chip}")
    if profile.download not in DOWNLOAD_MODES:
        raise HardenError(f"download mode must be one of {', '.join(DOWNLOAD_MODES)}")
    s: list[Step] = []
    if chip == "esp32":
        if profile.flash_encryption:
            s += [
                Step("flash encryption key into BLOCK1 (read- and write-protected)", "key", "BLOCK1"),
                Step("FLASH_CRYPT_CONFIG = 0xF (the full tweak)", "efuse", "FLASH_CRYPT_CONFIG", 0xF),
                Step("FLASH_CRYPT_CNT = 1 (flash encryption on)", "efuse", "FLASH_CRYPT_CNT", 1),
                Step("DISABLE_DL_ENCRYPT: no encryption in download mode", "efuse", "DISABLE_DL_ENCRYPT"),
                Step("DISABLE_DL_DECRYPT: download mode cannot read decrypted flash", "efuse", "DISABLE_DL_DECRYPT"),
                Step("DISABLE_DL_CACHE: no flash cache in download mode", "efuse", "DISABLE_DL_CACHE"),
            ]
        if profile.secure_boot:
            s += [
                Step("secure boot v2 key digest into BLOCK2 (write-protected)", "digest", "BLOCK2"),
                Step("ABS_DONE_1: secure boot v2 on", "efuse", "ABS_DONE_1"),
            ]
        if profile.jtag_off:
            s.append(Step("JTAG_DISABLE: JTAG off", "efuse", "JTAG_DISABLE"))
        if profile.download == "secure":
            raise HardenError(
                "the ESP32 has no secure download mode: choose --download off (serial flashing closed for good) "
                "or --download keep"
            )
        if profile.download == "off":
            s.append(Step("UART_DOWNLOAD_DIS: serial download mode off for good", "efuse", "UART_DOWNLOAD_DIS"))
        return s
    if profile.flash_encryption:
        s += [
            Step("flash encryption key into BLOCK_KEY0 as XTS_AES_128_KEY (read-protected)", "key", "BLOCK_KEY0"),
            Step("SPI_BOOT_CRYPT_CNT = 1 (flash encryption on)", "efuse", "SPI_BOOT_CRYPT_CNT", 1),
            Step("DIS_DOWNLOAD_MANUAL_ENCRYPT: no encryption in download mode", "efuse", "DIS_DOWNLOAD_MANUAL_ENCRYPT"),
            Step("DIS_DOWNLOAD_ICACHE: no instruction cache in download mode", "efuse", "DIS_DOWNLOAD_ICACHE"),
            Step("DIS_DOWNLOAD_DCACHE: no data cache in download mode", "efuse", "DIS_DOWNLOAD_DCACHE"),
        ]
    if profile.secure_boot:
        s += [
            Step("secure boot key digest into BLOCK_KEY1 as SECURE_BOOT_DIGEST0", "digest", "BLOCK_KEY1"),
            Step("SECURE_BOOT_EN: secure boot v2 on", "efuse", "SECURE_BOOT_EN"),
        ]
    if profile.jtag_off:
        s += [
            Step("DIS_PAD_JTAG: JTAG on the pins off", "efuse", "DIS_PAD_JTAG"),
            Step("DIS_USB_JTAG: JTAG over USB off", "efuse", "DIS_USB_JTAG"),
        ]
    if profile.download == "secure":
        s.append(
            Step(
                "ENABLE_SECURITY_DOWNLOAD: download mode limited to plain flash writes",
                "efuse",
                "ENABLE_SECURITY_DOWNLOAD",
            )
        )
    elif profile.download == "off":
        s.append(Step("DIS_DOWNLOAD_MODE: download mode off for good", "efuse", "DIS_DOWNLOAD_MODE"))
    return s


# -- eFuses --------------------------------------------------------------------


@contextlib.contextmanager
def efuses(chip: str, *, port: str | None = None, virtual: Path | None = None) -> Iterator[Any]:
    """espefuse's commands object for a board on `port`, or for virtual
    eFuses kept in the file `virtual`."""
    from espefuse import init_commands

    if (port is None) == (virtual is None):
        raise HardenError("give a serial port or a virtual eFuse file")
    try:
        with quiet():
            cmds = init_commands(
                port=port,
                chip=chip,
                virt=virtual is not None,
                virt_efuse_file=str(virtual) if virtual is not None else None,
                do_not_confirm=True,  # sbd asks for its own typed confirmation first
            )
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise HardenError(f"espefuse could not read the eFuses: {first}") from e
    try:
        yield cmds
    finally:
        if port is not None:
            with contextlib.suppress(Exception):  # a vanished port: nothing left to close
                cmds.esp._port.close()


def _digest(keys: Keys) -> bytes:
    import espsecure

    with open(keys.signing, "rb") as f:
        return bytes(espsecure._digest_sbv2_public_key(f))


def plan(
    cmds: Any,
    board: BoardConfig,
    profile: Profile,
    keys: Keys,
    *,
    backup: Path | None,
    signed: Path | None = None,
    plain: Path | None = None,
    encrypted: Path | None = None,
    address: int | None = None,
    allow_no_download: bool = False,
) -> Plan:
    """The steps left to burn and every pre-flight problem (see module doc).
    `signed`: the app image you will flash (signed); `encrypted`: that image
    encrypted for `address`; `plain`: what `encrypted` must decrypt to
    (default: `signed`)."""
    chip = board.chip
    p = Plan(chip, profile, [], mac=str(cmds.efuses["MAC"].get()).split(" ")[0])
    found = str(cmds.esp.CHIP_NAME).replace("-", "").lower()
    if found != chip:
        p.problems.append(f"the eFuses are an {cmds.esp.CHIP_NAME}'s, but board {board.name} is an {chip}")
        return p
    try:
        wanted = steps_for(chip, profile)
    except HardenError as e:
        p.problems.append(str(e))
        return p
    # keys present and backed up
    for f in keys.files():
        if not f.is_file():
            p.problems.append(f"{f}: missing; make the keys with `sbd harden keys`")
    if p.problems:
        return p
    if backup is None:
        p.problems.append("no key backup given: back the keys up first (`sbd harden backup`) and pass --backup")
    else:
        for f in keys.files():
            b = backup / f.name
            if not b.is_file() or _sha256(b) != _sha256(f):
                p.problems.append(f"{b}: no identical backup of {f.name}; run `sbd harden backup` again")
    if profile.secure_boot:
        if chip == "esp32" and cmds.esp.get_chip_revision() < 300:
            rev = cmds.esp.get_chip_revision()
            p.problems.append(f"this ESP32 is v{rev // 100}.{rev % 100}: secure boot v2 needs v3.0 (ECO3) or later")
        if signed is None or not signed_by(keys, signed):
            p.problems.append(
                "the app image is not signed with this signing key: a board with secure boot would not boot it "
                "(`sbd harden sign`, then pass --signed)"
            )
    if profile.flash_encryption:
        target = plain or signed
        if encrypted is None or address is None or target is None:
            p.problems.append("flash encryption needs the encrypted image and its address (--encrypted, --address)")
        elif decrypt(keys, chip, encrypted, address) != target.read_bytes():
            p.problems.append(
                f"{encrypted} is not {target} encrypted with this flash encryption key for {address:#x}: "
                "an encrypted board would not boot it (`sbd harden encrypt`)"
            )
    if profile.download == "off" and not allow_no_download:
        p.problems.append(
            "closing download mode for good means no more flashing over serial (updates only over the air): "
            "say so with --allow-no-download, or use --download keep/secure"
        )
    digest = _digest(keys) if profile.secure_boot else b""
    unknown_key: Step | None = None
    for s in wanted:
        state = _state(cmds, s, digest)
        if state == "done":
            p.done.append(s)
        elif state == "empty":
            p.steps.append(s)
        elif state == _UNREADABLE:
            unknown_key = s
        else:
            p.problems.append(f"{s.name} is already burnt differently ({state}); this board cannot take this plan")
    if unknown_key is not None:
        # A protected key cannot be compared.  Only when flash encryption is
        # already on (an earlier run of this plan) is it taken as done;
        # turning encryption on over an unknown key would brick the board.
        if any(s.name in _ENCRYPTION_ON for s in p.steps):
            p.problems.append(
                f"{unknown_key.name} already holds a flash encryption key sbd cannot read back, and flash "
                "encryption is not on yet: turning it on over an unknown key would brick the board"
            )
        else:
            p.done.append(unknown_key)
    return p


def _state(cmds: Any, s: Step, digest: bytes) -> str:
    ef = cmds.efuses
    if s.kind == "efuse":
        cur = ef[s.name].get()
        cur = int(cur) if not isinstance(cur, str) else int(cur, 0)
        return "done" if cur == s.value else ("empty" if cur == 0 else f"holds {cur:#x}, the plan wants {s.value:#x}")
    blk = ef[s.name]
    raw = bytes(blk.get_raw())
    if s.kind == "digest":
        if raw == digest[::-1] or raw == digest:
            return "done"
        return "empty" if not any(raw) and blk.is_writeable() else "holds another secure boot key digest"
    if blk.is_readable() and blk.is_writeable() and not any(raw):
        return "empty"
    return _UNREADABLE


def apply(cmds: Any, p: Plan, keys: Keys, *, confirm: str) -> list[str]:
    """Burn the plan's steps in one espefuse batch, after its typed
    confirmation phrase; returns espefuse's log lines."""
    if p.problems:
        raise HardenError("the plan has unresolved problems: " + "; ".join(p.problems))
    if confirm.strip() != p.phrase:
        raise HardenError(f"not confirmed: type exactly {p.phrase!r} to burn these eFuses (nothing was burnt)")
    if not p.steps:
        return []
    values = {s.name: s.value for s in p.steps if s.kind == "efuse"}
    try:
        with quiet() as log:
            cmds.use_batch_mode()
            for s in p.steps:
                if s.kind == "key":
                    with open(keys.flash, "rb") as k:
                        if p.chip == "esp32":
                            cmds.burn_key(["flash_encryption"], [k])
                        else:
                            cmds.burn_key([s.name], [k], ["XTS_AES_128_KEY"])
                elif s.kind == "digest":
                    with open(keys.signing, "rb") as k:
                        if p.chip == "esp32":
                            cmds.burn_key_digest(k)
                        else:
                            cmds.burn_key_digest([s.name], [k], ["SECURE_BOOT_DIGEST0"])
            if values:
                cmds.burn_efuse(values)
            cmds.burn_all()
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise HardenError(f"espefuse stopped: {first}; read the eFuses (`sbd harden plan`) before anything else") from e
    return log.getvalue().splitlines()
