"""Firmware files: the allow-list, the checks against a board, and the
per-device image (firmware + the board's filesystem with the SDK and its
factory record) as one file: a merged ``.bin`` for the ESP32 family, one
``.uf2`` for RP2 boards.

A firmware file is the user's (sbd downloads nothing).  Before sbd writes it
or builds it into an image, its SHA-256 must be on the allow-list the user
keeps (a text file: ``<sha256 hex>  <note>`` per line, ``#`` comments), and it
must fit the board: the chip it was built for, its size, where it puts the
partition table (ESP32) or which UF2 family and addresses it writes (RP2).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..boards import BoardConfig, Partition
from ..errors import SbdError
from ..fileio import write_atomic
from . import uf2

MAX_FIRMWARE = 16 * 1024 * 1024
MAX_ALLOW_LIST = 1024 * 1024
ESP_IMAGE_MAGIC = 0xE9
_HEX64 = re.compile(r"[0-9a-f]{64}")
_PT_ENTRY = struct.Struct("<2sBBII16sI")
_PT_MAGIC = b"\xaa\x50"
_PT_MD5_MAGIC = b"\xeb\xeb"
_PT_TYPES = {"app": 0, "data": 1}
_PT_SUBTYPES = {
    ("app", "factory"): 0x00,
    ("data", "ota"): 0x00,
    ("data", "phy"): 0x01,
    ("data", "nvs"): 0x02,
    ("data", "fat"): 0x81,
    ("data", "spiffs"): 0x82,
    ("data", "littlefs"): 0x83,
}
RP2_CHIP_NAMES = {0xE48BFF56: "RP2040", 0xE48BFF59: "RP2350 (Arm)", 0xE48BFF5A: "RP2350 (RISC-V)"}


class FirmwareError(SbdError):
    """A firmware file is not allowed or does not fit the board."""


@contextlib.contextmanager
def quiet() -> Iterator[io.StringIO]:
    """Capture what esptool/espsecure/espefuse print (their library calls log
    to stdout); the caller shows it only when something fails."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield buf


def read_firmware(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FIRMWARE:
            raise FirmwareError(
                f"{path}: {size} bytes is larger than any firmware sbd flashes; is this the right file?"
            )
        with open(path, "rb") as f:
            return f.read(MAX_FIRMWARE + 1)
    except OSError as e:
        raise FirmwareError(f"{path}: cannot read ({e.strerror or e})") from e


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- allow-list ----------------------------------------------------------------


def load_allow_list(path: Path) -> dict[str, str]:
    """{sha256 hex: note} from the user's allow-list file."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_ALLOW_LIST + 1)
    except FileNotFoundError:
        raise FirmwareError(
            f"{path}: no firmware allow-list here; add a firmware you trust with "
            f"`sbd flash allow FIRMWARE --allow-list {path}`"
        ) from None
    except OSError as e:
        raise FirmwareError(f"{path}: cannot read ({e.strerror or e})") from e
    if len(raw) > MAX_ALLOW_LIST:
        raise FirmwareError(f"{path}: larger than {MAX_ALLOW_LIST} bytes; is this an allow-list?")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise FirmwareError(f"{path}: not UTF-8 text; is this an allow-list?") from None
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, _, note = line.partition(" ")
        digest = digest.lower()
        if not _HEX64.fullmatch(digest):
            raise FirmwareError(f"{path}:{n}: must start with a SHA-256 in hex (64 characters)")
        out[digest] = note.strip()
    return out


def allow(path: Path, firmware: Path, note: str = "") -> str:
    """Add a firmware file's SHA-256 to the allow-list (made if missing)."""
    digest = sha256(read_firmware(firmware))
    known = load_allow_list(path) if path.exists() else {}
    if digest in known:
        return digest
    note = " ".join((note or firmware.name).split())[:200]
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{digest}  {note}\n")
    return digest


def check_allowed(data: bytes, allow_list: Path, source: str) -> str:
    """The firmware's SHA-256 if it is on the allow-list; FirmwareError otherwise."""
    digest = sha256(data)
    if digest not in load_allow_list(allow_list):
        raise FirmwareError(
            f"{source}: not on the firmware allow-list {allow_list} (SHA-256 {digest}); if you trust this "
            f"file, add it with `sbd flash allow {source} --allow-list {allow_list}`"
        )
    return digest


# -- ESP32: partition tables and image headers -------------------------------


def partition_table(board: BoardConfig) -> bytes:
    """The ESP-IDF binary partition table for the board config's partitions
    (entries, then the MD5 entry, then 0xFF to the end of the sector)."""
    out = bytearray()
    for p in board.partitions:
        if p.type == "app":
            sub = 0x10 + int(p.subtype[4:]) if p.subtype.startswith("ota_") else 0
        else:
            sub = _PT_SUBTYPES.get((p.type, p.subtype), 0xFE)
        out += _PT_ENTRY.pack(_PT_MAGIC, _PT_TYPES[p.type], sub, p.offset, p.size, p.name.encode(), 0)
    out += _PT_MD5_MAGIC + b"\xff" * 14 + hashlib.md5(out, usedforsecurity=False).digest()
    return bytes(out) + b"\xff" * (0xC00 - len(out))


def read_partition_table(data: bytes) -> list[tuple[str, int, int, int, int]]:
    """(name, type, subtype, offset, size) of each entry of a binary table;
    FirmwareError if the table is malformed or its MD5 does not match."""
    out: list[tuple[str, int, int, int, int]] = []
    for i in range(0, min(len(data), 0xC00) - 31, 32):
        e = data[i : i + 32]
        if e[:2] == _PT_MD5_MAGIC:
            if e[16:32] != hashlib.md5(data[:i], usedforsecurity=False).digest():
                raise FirmwareError("the firmware's partition table fails its MD5 check (a damaged file?)")
            return out
        if e[:2] != _PT_MAGIC:
            break
        _, t, s, off, size, label, _ = _PT_ENTRY.unpack(e)
        out.append((label.rstrip(b"\0").decode("ascii", "replace"), t, s, off, size))
    if not out:
        raise FirmwareError("no partition table where the board config puts it")
    return out


def _esp_image_check(data: bytes, board: BoardConfig, source: str) -> None:
    from esptool.bin_image import LoadFirmwareImage
    from esptool.targets import CHIP_DEFS

    if not data or data[0] != ESP_IMAGE_MAGIC:
        raise FirmwareError(
            f"{source}: not an ESP firmware image (it does not start with the 0xE9 image header); "
            "use the .bin file from the MicroPython download page for this board"
        )
    try:
        with quiet():
            img = LoadFirmwareImage(board.chip, data)
    except Exception as e:  # esptool raises FatalError and struct errors for bad headers
        raise FirmwareError(f"{source}: esptool cannot read its image header ({e})") from e
    want = CHIP_DEFS[board.chip].IMAGE_CHIP_ID
    got = getattr(img, "chip_id", want)
    if got != want:
        names = [c for c, d in CHIP_DEFS.items() if getattr(d, "IMAGE_CHIP_ID", None) == got]
        raise FirmwareError(
            f"{source}: built for {names[0] if names else f'chip id {got}'}, but board {board.name} is an "
            f"{board.chip}; use the firmware for this chip (or the right --board)"
        )


# esp_app_desc_t (ESP-IDF components/esp_app_format): at the start of an app
# image's first segment; a bootloader image or other data has none.
_APP_DESC_MAGIC = 0xABCD5432
_APP_DESC = struct.Struct("<III4x32s32s16s16s32s")


@dataclass(frozen=True)
class AppImage:
    """An ESP-IDF app image for one chip, as `check_app_image` read it."""

    chip: str
    length: int
    sha256: str
    project: str  # esp_app_desc_t project_name, e.g. "micropython"
    version: str  # esp_app_desc_t version, e.g. "v1.24.0"
    idf: str  # esp_app_desc_t idf_ver


def _c_string(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


def check_app_image(data: bytes, board: BoardConfig, source: str, *, strict: bool = True) -> AppImage:
    """FirmwareError unless data is an ESP-IDF app image for the board's
    chip that ESP-IDF's esp_image_verify (run by the device's set_boot)
    takes: the header esptool reads (magic, chip id, at most 16 segments),
    every flash-mapped segment at its MMU page offset, the checksum, and the
    appended SHA-256 when the header says there is one.

    strict (what `sbd ota add --firmware` publishes) also wants what every
    real app image has: the appended SHA-256, the app description
    (esp_app_desc_t) at the start of the first segment, which tells an app
    from a bootloader, and no bytes after the image; the full firmware .bin
    `sbd flash` writes (bootloader, partition table, app) is refused with a
    hint."""
    if board.firmware_format != "bin":
        raise FirmwareError(f"board {board.name} ({board.chip}) does not run ESP-IDF app images")
    _esp_image_check(data, board, source)
    from esptool.bin_image import LoadFirmwareImage

    try:
        with quiet():
            img: Any = LoadFirmwareImage(board.chip, data)
    except Exception as e:  # esptool's FatalError, RuntimeError and struct errors
        raise FirmwareError(f"{source}: esptool cannot read the image ({e})") from e
    if strict and (not img.append_digest or img.data_length is None):
        raise FirmwareError(f"{source}: the image carries no SHA-256 (hash_appended); ESP-IDF app images do")
    length = img.data_length + 32 if img.append_digest else len(data)
    if img.append_digest and len(img.stored_digest) != 32:
        raise FirmwareError(f"{source}: the image ends before its appended SHA-256 (a truncated file?)")
    if strict and len(data) > length:
        raise FirmwareError(
            f"{source}: an ESP image of {length} bytes followed by {len(data) - length} more; this looks like "
            "the full firmware .bin (bootloader, partition table, app) that `sbd flash` writes; an update "
            "carries the app image alone: MicroPython's .app-bin download for the board, or the "
            "micropython.bin of an ESP-IDF build"
        )
    if img.checksum != img.calculate_checksum():
        raise FirmwareError(f"{source}: the image's checksum does not match its segments (a damaged file?)")
    if img.append_digest and img.stored_digest != img.calc_digest:
        raise FirmwareError(f"{source}: the image's appended SHA-256 does not match it (a damaged file?)")
    for seg in img.segments:
        if img.is_flash_addr(seg.addr) and (seg.file_offs + 8) % 0x10000 != seg.addr % 0x10000:
            raise FirmwareError(
                f"{source}: segment at {seg.addr:#x} is not at its flash page offset; ESP-IDF refuses the image"
            )
    first = bytes(img.segments[0].data[: _APP_DESC.size]) if img.segments else b""
    if len(first) < _APP_DESC.size or _APP_DESC.unpack(first)[0] != _APP_DESC_MAGIC:
        if not strict:
            return AppImage(board.chip, length, sha256(data), "", "", "")
        raise FirmwareError(
            f"{source}: an ESP image without an app description (esp_app_desc_t): a bootloader or not an app; "
            "an update carries the app image: MicroPython's .app-bin download, or build/micropython.bin"
        )
    _, _, _, version, project, _, _, idf = _APP_DESC.unpack(first)
    return AppImage(board.chip, length, sha256(data), _c_string(project), _c_string(version), _c_string(idf))


def _first_app(board: BoardConfig) -> Partition:
    return min(board.app_partitions, key=lambda p: p.offset)


def check_firmware(data: bytes, board: BoardConfig, source: str) -> None:
    """FirmwareError unless the firmware file fits the board (see module doc)."""
    if board.firmware_format == "bin":
        _esp_image_check(data, board, source)
        # MicroPython's ESP32 .bin covers bootloader, partition table and the
        # first app partition; it must end there.
        end = min(_first_app(board).offset + _first_app(board).size, board.filesystem.offset)
        if board.firmware_offset + len(data) > end:
            raise FirmwareError(
                f"{source}: {len(data)} bytes written at {board.firmware_offset:#x} would end at "
                f"{board.firmware_offset + len(data):#x}, past the app partition ({end:#x}); "
                f"is this firmware for {board.name}?"
            )
        pt = board.partition_table_offset
        if pt is not None and board.firmware_offset + len(data) > pt:
            rel = pt - board.firmware_offset
            try:
                entries = read_partition_table(data[rel : rel + 0xC00])
            except FirmwareError as e:
                raise FirmwareError(f"{source}: {e}") from e
            fs = board.filesystem
            if not any(off == fs.offset and size == fs.size for _, t, _, off, size in entries if t == 1):
                raise FirmwareError(
                    f"{source}: its partition table has no data partition at {fs.offset:#x} of {fs.size:#x} bytes, "
                    f"where board {board.name} keeps the filesystem; use a board config that matches this firmware"
                )
        return
    blocks = uf2.parse(data, source)
    fam = board.uf2_family_id
    base = board.flash_base_address
    fs_lo = base + board.filesystem.offset
    for b in blocks:
        if b.family == uf2.FAMILY_ABSOLUTE and board.chip == "rp2350":
            continue
        if b.family != fam:
            got = RP2_CHIP_NAMES.get(b.family or 0, f"family {b.family or 0:#x}")
            want = RP2_CHIP_NAMES.get(fam or 0, f"family {fam or 0:#x}")
            raise FirmwareError(
                f"{source}: a UF2 for {got}, but board {board.name} is {want}; use the firmware for this board"
            )
        if b.flags & uf2.FLAG_NOT_MAIN_FLASH:
            continue
        if not base <= b.address or b.address + len(b.data) > fs_lo:
            raise FirmwareError(
                f"{source}: writes {b.address:#x}, outside the firmware area {base:#x}..{fs_lo:#x} of "
                f"{board.name} (it would overwrite the filesystem or is larger than the firmware area)"
            )


def check_image(data: bytes, board: BoardConfig, source: str) -> None:
    """FirmwareError unless a per-device image (`sbd flash image`) fits the
    board: the firmware part passes check_firmware's header and partition
    checks and the filesystem part mounts as littlefs."""
    from .. import fsimage

    fs = board.filesystem
    if board.firmware_format == "bin":
        if len(data) != fs.offset + fs.size:
            raise FirmwareError(
                f"{source}: {len(data)} bytes; a {board.name} image from `sbd flash image` is "
                f"{fs.offset + fs.size} (firmware from 0 to the end of the filesystem)"
            )
        _esp_image_check(data[board.firmware_offset :], board, source)
        pt = board.partition_table_offset
        if pt is not None:
            try:
                entries = read_partition_table(data[pt : pt + 0xC00])
            except FirmwareError as e:
                raise FirmwareError(f"{source}: {e}") from e
            if not any(off == fs.offset and size == fs.size for _, t, _, off, size in entries if t == 1):
                raise FirmwareError(f"{source}: its partition table does not match board {board.name}")
        part = data[fs.offset :]
    else:
        blocks = uf2.parse(data, source)
        for b in blocks:
            if b.family == uf2.FAMILY_ABSOLUTE and board.chip == "rp2350":
                continue
            if b.family != board.uf2_family_id:
                raise FirmwareError(f"{source}: holds UF2 blocks for another chip than {board.name}'s {board.chip}")
        try:
            flash = uf2.image(blocks, board.flash_base_address, board.flash_size)
        except uf2.UF2Error as e:
            raise FirmwareError(f"{source}: {e}") from e
        part = bytes(flash[fs.offset : fs.offset + fs.size])
    try:
        fsimage.list_image(part, board)
    except SbdError as e:
        raise FirmwareError(
            f"{source}: its filesystem part does not mount ({e}); rebuild it with `sbd flash image`"
        ) from e


# -- per-device images ---------------------------------------------------------


@dataclass(frozen=True)
class DeviceImage:
    path: Path
    firmware_sha256: str
    format: str  # "bin" (write at 0) or "uf2"


def combine(board: BoardConfig, firmware: bytes, fs_image: bytes) -> bytes:
    """One flashable file: the firmware at its offset and the filesystem at
    the board's filesystem offset.  ESP32: esptool's merge_bin (raw, from
    address 0); RP2: one UF2 with the filesystem as 256-byte blocks."""
    fs = board.filesystem
    if len(fs_image) != fs.size:
        raise FirmwareError(f"the filesystem image is {len(fs_image)} bytes; {board.name} needs {fs.size}")
    if board.firmware_format == "bin":
        from esptool.cmds import merge_bin

        try:
            with quiet():
                out: Any = merge_bin([(board.firmware_offset, firmware), (fs.offset, fs_image)], board.chip)
        except Exception as e:
            raise FirmwareError(f"esptool could not merge the image ({e})") from e
        return bytes(out)
    fam = board.uf2_family_id
    if fam is None:
        raise FirmwareError(f"board {board.name} has no uf2_family_id")
    return uf2.combine(uf2.parse(firmware), uf2.chunks(board.flash_base_address + fs.offset, fs_image), fam)


def build_device_image(
    out: Path,
    board: BoardConfig,
    firmware_path: Path,
    allow_list: Path,
    unique_id: bytes,
    db: Any,
    product: Any,
    opts: Any,
    *,
    arch: str | None = None,
) -> tuple[DeviceImage, Any]:
    """Check the firmware (allow-list, fit), provision the board's filesystem
    image (sbdtools.station.provision_image: the SDK and a factory record for
    `unique_id`, recorded in the factory database with the firmware's SHA-256)
    and write the two as one file to `out`.  Returns the image and the
    provisioning outcome (with the label files and, if asked, the password)."""
    from .. import station

    data = read_firmware(firmware_path)
    digest = check_allowed(data, allow_list, str(firmware_path))
    check_firmware(data, board, str(firmware_path))
    with tempfile.TemporaryDirectory(prefix="sbd-flash-") as tmp:
        fs_path = Path(tmp) / "fs.img"
        outcome = station.provision_image(
            fs_path, db, board, unique_id, product, opts, arch=arch, firmware_version=digest
        )
        merged = combine(board, data, fs_path.read_bytes())
    write_atomic(out, merged)
    return DeviceImage(out, digest, board.firmware_format), outcome
