# Virtual board: ESP-IDF's app image check, as esp_ota_set_boot_partition
# and the second-stage bootloader run it before accepting an app partition.
#
# Follows ESP-IDF v5.5 components/bootloader_support/src/esp_image_format.c
# (image_load in verify mode, no secure boot, as MicroPython's builds):
#   * header (esp_image_header_t, 24 bytes): magic 0xE9, the chip id, the
#     minimum / maximum chip revision, at most 16 segments;
#   * each segment header (load_addr, data_len): data_len a multiple of 4 and
#     below 16 MiB; a flash-mapped segment must sit at the same offset modulo
#     the 64 KiB MMU page as its load address;
#   * the checksum: 0xEF XOR every 32-bit word of segment data, folded to a
#     byte, stored as the last byte of the padding to 16 bytes;
#   * with hash_appended, the SHA-256 of everything up to and including the
#     checksum padding, stored right after it;
#   * the whole image (with the hash) must fit in the partition.
# Not checked (the bootloader's load step only): segment load addresses
# against the bootloader's own RAM; secure-boot signatures.
import struct

from micropython import const

_MAGIC = const(0xE9)
_MAX_SEGMENTS = const(16)
_MAX_ADDR = const(0x1000000)  # ESP_IMAGE_MAX_FLASH_ADDR_SIZE
_MMU_PAGE = const(0x10000)
_CHUNK = const(512)

# chip: (image chip_id, chip revision (major*100+minor) of the emulated
# silicon, flash-mapped address ranges (SOC_DROM_*/SOC_IROM_* of soc.h))
CHIPS = {
    "esp32": (0, 301, ((0x3F400000, 0x3F800000), (0x400D0000, 0x40400000))),
    "esp32s3": (9, 2, ((0x3C000000, 0x3E000000), (0x42000000, 0x44000000))),
}


def _mapped(addr, ranges):
    for lo, hi in ranges:
        if lo <= addr < hi:
            return True
    return False


def verify(flash, start, part_size, chip):
    """True when the app image at `start` passes esp_image_verify."""
    try:
        return _verify(flash, start, part_size, chip)
    except OSError:  # a read beyond the end of flash
        return False


def _verify(flash, start, part_size, chip):
    import hashlib

    chip_id, chip_rev, ranges = CHIPS[chip]
    if part_size > _MAX_ADDR:
        return False
    hdr = bytearray(24)
    flash.read(start, hdr)
    magic, nseg, _mode, _size, _entry, _wp, _drv, img_chip, _rev, min_rev, max_rev, _res, hashed = struct.unpack(
        "<BBBBIB3sHBHH4sB", hdr
    )
    if magic != _MAGIC or img_chip != chip_id or nseg > _MAX_SEGMENTS:
        return False
    if min_rev > chip_rev or (max_rev not in (0, 0xFFFF) and chip_rev > max_rev):
        return False
    sha = hashlib.sha256(hdr) if hashed else None
    csum = 0xEF
    pos = start + 24
    seg = bytearray(8)
    buf = bytearray(_CHUNK)
    mv = memoryview(buf)
    for _ in range(nseg):
        flash.read(pos, seg)
        if sha:
            sha.update(seg)
        load, n = struct.unpack("<II", seg)
        data = pos + 8
        if n & 3 or n >= _MAX_ADDR:
            return False
        if _mapped(load, ranges) and data % _MMU_PAGE != load % _MMU_PAGE:
            return False
        if data + n > start + part_size:
            return False  # would fail the fit check below anyway; no need to read it all
        # XOR of the segment's 32-bit words: XOR the chunks as little-endian
        # integers (chunks are whole words from the segment start), then fold.
        acc = 0
        left = n
        a = data
        while left:
            k = _CHUNK if left > _CHUNK else left
            part = mv[:k]
            flash.read(a, part)
            if sha:
                sha.update(part)
            acc ^= int.from_bytes(part, "little")
            a += k
            left -= k
        while acc:
            csum ^= acc & 0xFFFFFFFF
            acc >>= 32
        pos = data + n
    length = pos - start
    pad = ((length + 16) & ~15) - length
    tail = bytearray(pad)
    flash.read(start + length, tail)
    calc = (csum ^ (csum >> 8) ^ (csum >> 16) ^ (csum >> 24)) & 0xFF
    if tail[pad - 1] != calc:
        return False
    length += pad
    if sha:
        sha.update(tail)
        digest = bytearray(32)
        flash.read(start + length, digest)
        length += 32
    if length > part_size:
        return False
    return not sha or sha.digest() == digest
