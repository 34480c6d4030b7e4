# Virtual board: the `esp32` module's Partition class over the flash image,
# and the part of the ESP-IDF second-stage bootloader that picks the app
# partition (otadata, with app rollback enabled as in MicroPython's builds).
#
# Layouts follow ESP-IDF:
#   partition table at 0x8000: 32-byte entries <HBBII16sI (magic 0x50AA,
#   type, subtype, offset, size, label, flags), then an MD5 entry (0xEBEB);
#   otadata: two 4 KiB sectors, each starting with <I20sII (ota_seq,
#   seq_label, ota_state, crc32 of ota_seq).  The highest valid ota_seq wins;
#   slot = (ota_seq - 1) % number of ota partitions.
# An app image must start with the ESP image magic 0xE9 to be bootable.
import struct

from micropython import const

_PT_MAGIC = const(0x50AA)
_MD5_MAGIC = const(0xEBEB)
_SECTOR = const(4096)
_APP_MAGIC = const(0xE9)
_SEQ_UNSET = const(0xFFFFFFFF)

# ota_state values (esp_ota_img_states_t)
ST_NEW = const(0)
ST_PENDING = const(1)
ST_VALID = const(2)
ST_INVALID = const(3)
ST_ABORTED = const(4)
ST_UNDEFINED = const(0xFFFFFFFF)

TYPE_APP = 0
TYPE_DATA = 1
_SUB_OTA0 = const(0x10)
_SUB_OTADATA = const(0x00)

_flash = None
_table = []  # (type, subtype, offset, size, label)
_running = None  # label of the app the bootloader started


def _crc(seq):
    # ESP-IDF: esp_rom_crc32_le(UINT32_MAX, &ota_seq, 4), which is zlib's
    # crc32 continued from 0xFFFFFFFF.
    import binascii

    return binascii.crc32(struct.pack("<I", seq), 0xFFFFFFFF) & 0xFFFFFFFF


def read_table(flash, offset):
    buf = bytearray(32)
    table = []
    for i in range(96):
        flash.read(offset + 32 * i, buf)
        magic = buf[0] | (buf[1] << 8)
        if magic != _PT_MAGIC:
            break
        _, t, st, off, size, label, _flags = struct.unpack("<HBBII16sI", buf)
        label = bytes(label).split(b"\0")[0].decode()
        table.append((t, st, off, size, label))
    return table


def _otas():
    return sorted([e for e in _table if e[0] == TYPE_APP and _SUB_OTA0 <= e[1] < _SUB_OTA0 + 16],
                  key=lambda e: e[1])


def _otadata():
    for e in _table:
        if e[0] == TYPE_DATA and e[1] == _SUB_OTADATA:
            return e
    return None


def _read_ota_entries():
    od = _otadata()
    out = []
    buf = bytearray(32)
    for i in range(2):
        _flash.read(od[2] + i * _SECTOR, buf)
        seq, _label, state, crc = struct.unpack("<I20sII", buf)
        valid = seq != _SEQ_UNSET and crc == _crc(seq) and state not in (ST_INVALID, ST_ABORTED)
        out.append((seq, state, valid))
    return out


def _write_ota_entry(sector, seq, state):
    od = _otadata()
    addr = od[2] + sector * _SECTOR
    _flash.erase(addr, _SECTOR)
    _flash.program(addr, struct.pack("<I20sII", seq, b"\xff" * 20, state, _crc(seq)))


def _bootable(entry):
    b = bytearray(1)
    _flash.read(entry[2], b)
    return b[0] == _APP_MAGIC


def boot_select(flash, table_offset):
    """The bootloader: choose the app partition for this (hard) boot."""
    global _flash, _table, _running
    _flash = flash
    _table = read_table(flash, table_offset)
    otas = _otas()
    if not otas or _otadata() is None:
        raise OSError("vboard: no OTA partitions in the partition table")
    entries = _read_ota_entries()
    order = sorted([i for i in range(2) if entries[i][2]], key=lambda i: entries[i][0], reverse=True)
    for idx in order:
        seq, state, _ = entries[idx]
        if state == ST_PENDING:
            # The app booted last time never confirmed itself: roll back.
            _write_ota_entry(idx, seq, ST_ABORTED)
            continue
        part = otas[(seq - 1) % len(otas)]
        if not _bootable(part):
            continue
        if state == ST_NEW:
            _write_ota_entry(idx, seq, ST_PENDING)
        _running = part[4]
        return _running
    # No usable otadata: boot the first OTA app (a freshly flashed board).
    for part in otas:
        if _bootable(part):
            _running = part[4]
            return _running
    raise OSError("vboard: no bootable app partition")


def resume(flash, table_offset, running):
    """After a soft reset: the same app keeps running, no bootloader pass."""
    global _flash, _table, _running
    _flash = flash
    _table = read_table(flash, table_offset)
    _running = running


def _entry(label):
    for e in _table:
        if e[4] == label:
            return e
    raise ValueError("partition not found")


class Partition:
    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1

    def __init__(self, id, block_size=_SECTOR):
        if block_size % _SECTOR or block_size <= 0:
            raise ValueError("invalid block size")
        if id == Partition.RUNNING:
            e = _entry(_running)
        elif id == Partition.BOOT:
            e = _entry(_boot_label())
        elif isinstance(id, str):
            e = _entry(id)
        else:
            raise ValueError("invalid partition id")
        self._e = e
        self._bs = block_size

    @staticmethod
    def find(type=TYPE_APP, subtype=0xFF, label=None, block_size=_SECTOR):
        out = []
        for e in _table:
            if e[0] == type and (subtype == 0xFF or e[1] == subtype) and (label is None or e[4] == label):
                out.append(Partition(e[4], block_size))
        return out

    def info(self):
        t, st, off, size, label = self._e
        return (t, st, off, size, label, False)

    def __repr__(self):
        t, st, off, size, label = self._e
        return "<Partition type=%d, subtype=%d, address=%d, size=%d, label=%s, encrypted=0>" % (
            t, st, off, size, label)

    def _addr(self, block, off, n):
        addr = self._e[2] + block * self._bs + off
        if block < 0 or off < 0 or addr + n > self._e[2] + self._e[3]:
            raise OSError(22)
        return addr

    def readblocks(self, block, buf, off=0):
        _flash.read(self._addr(block, off, len(buf)), buf)

    def writeblocks(self, block, buf, off=None):
        if off is None:
            addr = self._addr(block, 0, len(buf))
            span = (len(buf) + self._bs - 1) // self._bs * self._bs
            self._addr(block, 0, span)
            _flash.erase(addr, span)
            _flash.program(addr, buf)
        else:
            _flash.program(self._addr(block, off, len(buf)), buf)

    def ioctl(self, op, arg):
        if op == 4:
            return self._e[3] // self._bs
        if op == 5:
            return self._bs
        if op == 6:
            _flash.erase(self._addr(arg, 0, self._bs), self._bs)
            return 0
        return 0

    def set_boot(self):
        e = self._e
        otas = _otas()
        if e not in otas:
            raise OSError(22)
        if not _bootable(e):
            # esp_ota_set_boot_partition verifies the image first.
            raise OSError(-5379)  # ESP_ERR_OTA_VALIDATE_FAILED
        slot = otas.index(e)
        entries = _read_ota_entries()
        valid = [entries[i][0] for i in range(2) if entries[i][2]]
        top = max(valid) if valid else 0
        seq = top + 1
        while (seq - 1) % len(otas) != slot:
            seq += 1
        # Write over the sector that does not hold the current top entry, so
        # a power cut here leaves the old choice intact.
        if valid and entries[0][2] and entries[0][0] == top:
            sector = 1
        else:
            sector = 0
        _write_ota_entry(sector, seq, ST_NEW)

    def get_next_update(self):
        otas = _otas()
        cur = _entry(_running)
        if cur not in otas:
            return Partition(otas[0][4])
        return Partition(otas[(otas.index(cur) + 1) % len(otas)][4])

    @staticmethod
    def mark_app_valid_cancel_rollback():
        # As ESP-IDF's esp_ota_current_ota_is_workable(true): the *active*
        # entry (highest valid ota_seq) becomes VALID whatever its state and
        # whichever app is running.  So confirming after set_boot() and
        # before the reset marks the new app VALID: it will boot with no
        # trial and can never be rolled back -- a real pitfall, kept here so
        # tests see it (tests/vboard/test_esp32.py).
        entries = _read_ota_entries()
        active = -1
        for i in range(2):
            if entries[i][2] and (active < 0 or entries[i][0] > entries[active][0]):
                active = i
        if active >= 0 and entries[active][1] != ST_VALID:
            _write_ota_entry(active, entries[active][0], ST_VALID)


def _boot_label():
    entries = _read_ota_entries()
    best = None
    for seq, state, valid in entries:
        if valid and (best is None or seq > best):
            best = seq
    otas = _otas()
    if best is None:
        return otas[0][4]
    return otas[(best - 1) % len(otas)][4]
