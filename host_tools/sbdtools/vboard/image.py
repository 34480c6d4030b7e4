"""Flash images for virtual boards, laid out like the emulated board.

ESP32: erased flash, a placeholder second-stage bootloader at the firmware
offset, the ESP-IDF partition table at 0x8000 (binary format with its MD5
entry), blank otadata, a placeholder app in ota_0 (a valid ESP-IDF app image
built with esptool's image classes, so the bootloader's verification passes),
and the filesystem partition left erased (the board formats it on first
boot, as MicroPython does).  Pico: erased flash with a placeholder firmware
area and the filesystem area at the board's offset.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

from ..boards import BoardConfig, Partition

PT_ENTRY = struct.Struct("<HBBII16sI")
PT_MAGIC = 0x50AA
PT_MD5_MAGIC = 0xEBEB
PT_MAX_LEN = 0xC00
APP_MAGIC = 0xE9
TYPES = {"app": 0x00, "data": 0x01}
SUBTYPES = {
    "app": {"factory": 0x00, **{f"ota_{i}": 0x10 + i for i in range(16)}, "test": 0x20},
    "data": {
        "ota": 0x00,
        "phy": 0x01,
        "nvs": 0x02,
        "coredump": 0x03,
        "nvs_keys": 0x04,
        "efuse": 0x05,
        "fat": 0x81,
        "spiffs": 0x82,
        "littlefs": 0x83,
    },
}
FIRMWARE_MARKER = b"SBD-VBOARD-FIRMWARE placeholder: the unix port runs in its place\n"


def encode_partition_table(parts: tuple[Partition, ...]) -> bytes:
    """The binary partition table ESP-IDF's bootloader reads at 0x8000."""
    out = bytearray()
    for p in parts:
        label = p.name.encode()
        if len(label) > 16:
            raise ValueError(f"partition label {p.name!r} longer than 16 bytes")
        out += PT_ENTRY.pack(
            PT_MAGIC, TYPES[p.type], SUBTYPES[p.type][p.subtype], p.offset, p.size, label.ljust(16, b"\0"), 0
        )
    md5 = hashlib.md5(bytes(out), usedforsecurity=False).digest()
    out += struct.pack("<H", PT_MD5_MAGIC) + b"\xff" * 14 + md5
    if len(out) > PT_MAX_LEN:
        raise ValueError("partition table too long")
    return bytes(out)


def decode_partition_table(data: bytes) -> list[tuple[int, int, int, int, str]]:
    """Entries (type, subtype, offset, size, label); checks the MD5 entry."""
    entries: list[tuple[int, int, int, int, str]] = []
    for i in range(0, min(len(data), PT_MAX_LEN), 32):
        magic = struct.unpack_from("<H", data, i)[0]
        if magic == PT_MD5_MAGIC:
            if hashlib.md5(data[:i], usedforsecurity=False).digest() != data[i + 16 : i + 32]:
                raise ValueError("partition table MD5 mismatch")
            return entries
        if magic != PT_MAGIC:
            break
        _, t, st, off, size, label, _flags = PT_ENTRY.unpack_from(data, i)
        entries.append((t, st, off, size, label.split(b"\0")[0].decode()))
    raise ValueError("partition table has no MD5 entry")


# Load addresses in internal RAM (not flash-mapped, so no MMU alignment).
_DRAM = {"esp32": 0x3FFB0000, "esp32s3": 0x3FC88000}
_IRAM = {"esp32": 0x40080000, "esp32s3": 0x40378000}


def placeholder_app(chip: str = "esp32", version: str = "vboard", *, hash_appended: bool = True) -> bytes:
    """A stand-in app: a valid ESP-IDF app image for `chip` (header, two
    segments, checksum, appended SHA-256), built with esptool's image classes,
    whose data segment holds a readable marker and `version`."""
    import tempfile

    from esptool.bin_image import ELFSection, ESP32FirmwareImage, ESP32S3FirmwareImage

    cls = {"esp32": ESP32FirmwareImage, "esp32s3": ESP32S3FirmwareImage}[chip]
    img = cls(append_digest=hash_appended)
    img.entrypoint = _IRAM[chip]
    text = FIRMWARE_MARKER + version.encode() + b"\n"
    text += b"\0" * (-len(text) % 4)
    img.segments = [
        ELFSection(b".dram0.data", _DRAM[chip], text, 0),
        ELFSection(b".iram0.text", _IRAM[chip], bytes(64), 0),
    ]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "app.bin"
        img.save(str(path))
        return path.read_bytes()


def create_flash_image(cfg: BoardConfig, path: Path) -> None:
    """Write a fresh, fully erased flash image for the board at path."""
    with open(path, "wb") as f:
        chunk = b"\xff" * 65536
        for _ in range(cfg.flash_size // len(chunk)):
            f.write(chunk)
        f.write(b"\xff" * (cfg.flash_size % len(chunk)))
        f.seek(cfg.firmware_offset)
        f.write(FIRMWARE_MARKER)
        if cfg.family == "esp32":
            assert cfg.partition_table_offset is not None  # required for esp32 by the loader
            f.seek(cfg.partition_table_offset)
            f.write(encode_partition_table(cfg.partitions))
            first_app = cfg.app_partitions[0]
            f.seek(first_app.offset)
            f.write(placeholder_app(cfg.chip))
