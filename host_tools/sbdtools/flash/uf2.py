"""UF2 files (https://github.com/microsoft/uf2): parse, check and write.

A UF2 file is a run of 512-byte blocks, each carrying up to 476 bytes for one
flash address.  The RP2 boot ROM takes 256-byte payloads whose family id
names the chip (RP2040 0xE48BFF56, RP2350 0xE48BFF59).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import SbdError

BLOCK = 512
PAYLOAD = 256  # what the RP2 boot ROM writes per block
MAGIC_START0 = 0x0A324655
MAGIC_START1 = 0x9E5D5157
MAGIC_END = 0x0AB16F30
FLAG_NOT_MAIN_FLASH = 0x00000001
FLAG_FAMILY_ID = 0x00002000
# picotool puts one block of this family first in RP2350 images (the RP2350-E10
# erratum workaround); the boot ROM ignores it for writing.
FAMILY_ABSOLUTE = 0xE48BFF57
_HEAD = struct.Struct("<IIIIIIII")
MAX_BLOCKS = 64 * 1024 * 1024 // PAYLOAD


class UF2Error(SbdError):
    """A UF2 file is malformed or does not fit the board."""


@dataclass(frozen=True)
class Block:
    address: int
    data: bytes
    family: int | None
    flags: int
    block_no: int
    num_blocks: int


def parse(data: bytes | bytearray | memoryview, source: str = "UF2 file") -> list[Block]:
    """Every block of a UF2 file; UF2Error names the first bad one."""
    mv = memoryview(data)
    if not len(mv) or len(mv) % BLOCK:
        raise UF2Error(f"{source}: not a UF2 file (its size, {len(mv)} bytes, is not a multiple of {BLOCK})")
    if len(mv) // BLOCK > MAX_BLOCKS:
        raise UF2Error(f"{source}: more than {MAX_BLOCKS} blocks; is this a UF2 file?")
    out = []
    for i in range(len(mv) // BLOCK):
        b = mv[i * BLOCK : (i + 1) * BLOCK]
        m0, m1, flags, addr, size, no, total, fam = _HEAD.unpack(b[:32])
        (end,) = struct.unpack("<I", b[508:512])
        if m0 != MAGIC_START0 or m1 != MAGIC_START1 or end != MAGIC_END:
            raise UF2Error(f"{source}: block {i} has no UF2 magic numbers; is this a UF2 file?")
        if size > 476:
            raise UF2Error(f"{source}: block {i} claims {size} bytes of payload (at most 476 fit)")
        if no >= total:
            raise UF2Error(f"{source}: block {i} is numbered {no} of {total}")
        out.append(Block(addr, bytes(b[32 : 32 + size]), fam if flags & FLAG_FAMILY_ID else None, flags, no, total))
    return out


def pack(blocks: list[tuple[int, bytes]], family: int) -> bytes:
    """UF2 blocks for (address, payload) pairs of one family, numbered in order."""
    out = bytearray()
    n = len(blocks)
    for i, (addr, payload) in enumerate(blocks):
        if len(payload) > 476:
            raise UF2Error(f"payload at {addr:#x} is {len(payload)} bytes (at most 476 fit)")
        head = _HEAD.pack(MAGIC_START0, MAGIC_START1, FLAG_FAMILY_ID, addr, len(payload), i, n, family)
        out += head + payload + bytes(476 - len(payload)) + struct.pack("<I", MAGIC_END)
    return bytes(out)


def chunks(address: int, data: bytes | bytearray | memoryview) -> list[tuple[int, bytes]]:
    """`data` cut into 256-byte payloads from `address` (the last one padded with 0xFF)."""
    if address % PAYLOAD:
        raise UF2Error(f"address {address:#x} is not {PAYLOAD}-byte aligned")
    mv = memoryview(data)
    out = []
    for off in range(0, len(mv), PAYLOAD):
        part = bytes(mv[off : off + PAYLOAD])
        out.append((address + off, part + b"\xff" * (PAYLOAD - len(part))))
    return out


def combine(first: list[Block], extra: list[tuple[int, bytes]], family: int) -> bytes:
    """One UF2 file: the blocks of `first` of `family` followed by `extra`,
    renumbered as one run; blocks of FAMILY_ABSOLUTE are kept first as they were."""
    keep = [b for b in first if b.family == FAMILY_ABSOLUTE]
    main = [(b.address, b.data) for b in first if b.family != FAMILY_ABSOLUTE]
    out = bytearray()
    for b in keep:
        out += _HEAD.pack(
            MAGIC_START0, MAGIC_START1, b.flags, b.address, len(b.data), b.block_no, b.num_blocks, b.family or 0
        )
        out += b.data + bytes(476 - len(b.data)) + struct.pack("<I", MAGIC_END)
    return bytes(out) + pack(main + extra, family)


def image(blocks: list[Block], base: int, size: int) -> bytearray:
    """The flash bytes the blocks write in [base, base + size), 0xFF elsewhere."""
    out = bytearray(b"\xff" * size)
    for b in blocks:
        if b.flags & FLAG_NOT_MAIN_FLASH or b.family == FAMILY_ABSOLUTE:
            continue
        lo = b.address - base
        if lo < 0 or lo + len(b.data) > size:
            raise UF2Error(f"block {b.block_no} writes {b.address:#x}, outside flash")
        out[lo : lo + len(b.data)] = b.data
    return out
