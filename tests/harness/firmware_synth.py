"""Small synthetic firmware files that esptool and UF2 parsers accept (no
downloads): an ESP32 .bin laid out like MicroPython's (bootloader image,
partition table, app image) and an RP2 .uf2."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

from sbdtools.boards import BoardConfig
from sbdtools.flash import firmware, uf2


def esp_app_image(chip: str, payload: bytes = b"sbd synthetic firmware ") -> bytes:
    """One ESP image (header 0xE9, one segment, checksum, SHA-256) for `chip`."""
    import tempfile

    from esptool.bin_image import ELFSection
    from esptool.targets import CHIP_DEFS

    img = CHIP_DEFS[chip].BOOTLOADER_IMAGE()
    img.entrypoint = 0x40080000
    img.segments = [ELFSection(b".dram0.data", 0x3FFB0000, (payload * 64)[:2048], 0)]
    img.append_digest = True
    with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(io.StringIO()):
        path = os.path.join(d, "app.bin")
        img.save(path)
        return Path(path).read_bytes()


def esp_ota_app(chip: str, version: str = "v1.24.0", size: int = 16 * 1024) -> bytes:
    """An ESP-IDF app image for `chip` as an OTA update carries it (what
    MicroPython's .app-bin is): a flash-mapped first segment starting with the
    app description (esp_app_desc_t: magic, version, project name), about
    `size` bytes of seeded data, an IRAM segment, checksum and SHA-256."""
    import random
    import struct
    import tempfile

    from esptool.bin_image import ELFSection
    from esptool.targets import CHIP_DEFS

    rom = CHIP_DEFS[chip]
    desc = struct.pack(
        "<III4x32s32s16s16s32s",
        0xABCD5432,
        0,
        0,
        version.encode(),
        b"micropython",
        b"00:00:00",
        b"Nov 30 2026",
        b"v5.5",
    ).ljust(256, b"\0")
    body = random.Random(version).randbytes(max(size - 256, 0) & ~3)
    img = rom.BOOTLOADER_IMAGE()
    img.entrypoint = 0x40080000 if chip == "esp32" else 0x40370000
    img.segments = [
        ELFSection(b".flash.appdesc", rom.DROM_MAP_START + 0x20, desc + body, 0),
        ELFSection(b".iram0.text", 0x40080000 if chip == "esp32" else 0x40370000, bytes(64), 0),
    ]
    img.append_digest = True
    with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(io.StringIO()):
        path = os.path.join(d, "app.bin")
        img.save(path)
        return Path(path).read_bytes()


def esp_firmware(board: BoardConfig, *, chip: str | None = None, table: bytes | None = None) -> bytes:
    """A MicroPython-style ESP32 .bin for `board`, written at firmware_offset:
    bootloader, then the partition table, then the app at the first app partition."""
    c = chip or board.chip
    base = board.firmware_offset
    pt = board.partition_table_offset or 0x8000
    app_off = min(p.offset for p in board.app_partitions)
    out = bytearray(b"\xff" * (app_off - base))
    boot = esp_app_image(c, b"bootloader ")
    out[: len(boot)] = boot
    tab = firmware.partition_table(board) if table is None else table
    out[pt - base : pt - base + len(tab)] = tab
    return bytes(out) + esp_app_image(c, b"micropython app ")


def rp2_firmware(board: BoardConfig, *, family: int | None = None, size: int = 8 * 1024) -> bytes:
    """A UF2 of `size` bytes of code at the start of flash (family: the board's)."""
    fam = board.uf2_family_id if family is None else family
    assert fam is not None
    data = os.urandom(size)
    return uf2.pack(uf2.chunks(board.flash_base_address, data), fam)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
