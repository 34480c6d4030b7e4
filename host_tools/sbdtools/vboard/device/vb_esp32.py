# Virtual board: the `esp32` module (Partition, NVS) over the flash image,
# and the part of the ESP-IDF second-stage bootloader that picks the app
# partition (otadata, with app rollback enabled as in MicroPython's builds:
# ports/esp32/boards/sdkconfig.base sets CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE).
#
# Sources followed (micropython 1c3c201, ESP-IDF v5.5):
#   ports/esp32/esp32_partition.c       the Partition methods, their errors
#   ports/esp32/mphalport.c             check_esp_err: OSError(-code, name)
#   app_update/esp_ota_ops.c            set_boot, get_next_update, mark valid
#   bootloader_support/src/bootloader_utility.c   the bootloader's choice
#   esp_partition/partition_target.c    erase/write argument checks
#   spi_flash/esp_flash_api.c           a write to the running app aborts
#
# Layouts follow ESP-IDF: partition table at 0x8000: 32-byte entries
# <HBBII16sI (magic 0x50AA, type, subtype, offset, size, label, flags), then
# an MD5 entry (0xEBEB); otadata: two 4 KiB sectors, each starting with
# <I20sII (ota_seq, seq_label, ota_state, crc32 of ota_seq).  The highest
# valid ota_seq wins; slot = (ota_seq - 1) % number of ota partitions.
import struct

from micropython import const

_PT_MAGIC = const(0x50AA)
_SECTOR = const(4096)
_SEQ_UNSET = const(0xFFFFFFFF)
_PT_END = const(0x8000 + 0xC00)  # ESP_PARTITION_TABLE_OFFSET + MAX_LEN

# ota_state values (esp_ota_img_states_t)
ST_NEW = const(0)
ST_PENDING = const(1)
ST_VALID = const(2)
ST_INVALID = const(3)
ST_ABORTED = const(4)
ST_UNDEFINED = const(0xFFFFFFFF)

TYPE_APP = 0
TYPE_DATA = 1
_SUB_FACTORY = const(0x00)
_SUB_OTA0 = const(0x10)
_SUB_OTADATA = const(0x00)

# esp_err_t values; check_esp_err raises OSError(-code, name).
ESP_FAIL = -1
ESP_ERR_INVALID_ARG = 0x102
ESP_ERR_INVALID_SIZE = 0x104
ESP_ERR_NOT_FOUND = 0x105
ESP_ERR_OTA_VALIDATE_FAILED = 0x1503
_NAMES = {
    ESP_FAIL: "ESP_FAIL",
    ESP_ERR_INVALID_ARG: "ESP_ERR_INVALID_ARG",
    ESP_ERR_INVALID_SIZE: "ESP_ERR_INVALID_SIZE",
    ESP_ERR_NOT_FOUND: "ESP_ERR_NOT_FOUND",
    ESP_ERR_OTA_VALIDATE_FAILED: "ESP_ERR_OTA_VALIDATE_FAILED",
    0x1101: "ESP_ERR_NVS_NOT_INITIALIZED",
    0x1102: "ESP_ERR_NVS_NOT_FOUND",
    0x1105: "ESP_ERR_NVS_NOT_ENOUGH_SPACE",
    0x1109: "ESP_ERR_NVS_KEY_TOO_LONG",
    0x110C: "ESP_ERR_NVS_INVALID_LENGTH",
}

_flash = None
_chip = "esp32"
_table = []  # (type, subtype, offset, size, label)
_running = None  # the entry of the app the bootloader started


def check_esp_err(code):
    if code:
        raise OSError(-code, _NAMES.get(code, "ESP_ERR_0x%X" % code))


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


def _find_first(t, st):
    for e in _table:
        if e[0] == t and e[1] == st:
            return e
    return None


def _otas():
    # esp_ota_get_app_partition_count: ota_0, ota_1, ... while they exist.
    out = []
    while True:
        e = _find_first(TYPE_APP, _SUB_OTA0 + len(out))
        if e is None or len(out) >= 16:
            return out
        out.append(e)


def _otadata():
    return _find_first(TYPE_DATA, _SUB_OTADATA)


# -- otadata ------------------------------------------------------------------
# An entry is [seq, label(20 bytes), state, crc], as read from its sector.


def _read_otadata():
    od = _otadata()
    out = []
    buf = bytearray(32)
    for i in range(2):
        _flash.read(od[2] + i * _SECTOR, buf)
        seq, label, state, crc = struct.unpack("<I20sII", buf)
        out.append([seq, bytes(label), state, crc])
    return out


def _invalid(e):  # bootloader_common_ota_select_invalid
    return e[0] == _SEQ_UNSET or e[2] == ST_INVALID or e[2] == ST_ABORTED


def _valid(e):  # bootloader_common_ota_select_valid
    return not _invalid(e) and e[3] == _crc(e[0])


def _active(entries):
    # bootloader_common_get_active_otadata: the valid entry with the highest
    # seq (entry 0 on a tie), or -1.
    v0, v1 = _valid(entries[0]), _valid(entries[1])
    if v0 and v1:
        return 0 if entries[0][0] >= entries[1][0] else 1
    return 0 if v0 else (1 if v1 else -1)


def _write_otadata(sector, e):
    # rewrite_ota_seq / the bootloader's write_otadata: erase the sector,
    # write the 32-byte entry (its crc recomputed from its seq).
    od = _otadata()
    addr = od[2] + sector * _SECTOR
    e[3] = _crc(e[0])
    _flash.erase(addr, _SECTOR)
    _flash.program(addr, struct.pack("<I20sII", e[0], e[1], e[2], e[3]))


def _image_ok(entry):
    import vb_espimage

    return vb_espimage.verify(_flash, entry[2], entry[3], _chip)


# -- the bootloader -----------------------------------------------------------


def boot_select(flash, table_offset, chip):
    """The bootloader: choose the app partition for this (hard) boot.

    bootloader_utility_get_selected_boot_partition, then
    bootloader_utility_load_boot_image's fallback order."""
    global _flash, _table, _running, _chip
    _flash = flash
    _chip = chip
    _table = read_table(flash, table_offset)
    otas = _otas()
    if _otadata() is None:
        raise OSError("vboard: no otadata partition in the partition table")
    entries = _read_otadata()
    # An app that booted on trial and never confirmed itself: ABORTED.
    for i in range(2):
        if entries[i][2] == ST_PENDING:
            entries[i][2] = ST_ABORTED
            _write_otadata(i, entries[i])
    initial = False
    if (_invalid(entries[0]) and _invalid(entries[1])) or not otas:
        start = 0  # no factory app in MicroPython's OTA layouts: try ota_0
        initial = all(e[0] == _SEQ_UNSET or e[3] != _crc(e[0]) for e in entries)
    else:
        active = _active(entries)
        if active >= 0:
            start = (entries[active][0] - 1) % len(otas)
            if entries[active][2] == ST_NEW:
                # Written before the image is even loaded: if it fails to
                # load, the next boot finds PENDING and marks it ABORTED.
                entries[active][2] = ST_PENDING
                _write_otadata(active, entries[active])
        else:
            start = -1  # "ota data partition invalid and no factory, will try all partitions"
    # Backwards from the chosen slot (down to the factory app, which these
    # layouts do not have), then forwards.
    order = list(range(start, -1, -1)) + list(range(start + 1, len(otas)))
    for idx in order:
        if _image_ok(otas[idx]):
            if initial:
                # set_actual_ota_seq: blank otadata gets {seq idx + 1, VALID}.
                _write_otadata(0, [idx + 1, b"\xff" * 20, ST_VALID, 0])
            _running = otas[idx]
            return _running[4]
    raise OSError("vboard: no bootable app partition")


def resume(flash, table_offset, running, chip):
    """After a soft reset: the same app keeps running, no bootloader pass."""
    global _flash, _table, _running, _chip
    _flash = flash
    _chip = chip
    _table = read_table(flash, table_offset)
    _running = None
    for e in _table:
        if e[4] == running and e[0] == TYPE_APP:
            _running = e


def _abort():
    # CONFIG_SPI_FLASH_DANGEROUS_WRITE_ABORTS (the default): a write or erase
    # that touches the running app, the bootloader or the partition table
    # calls abort(); the panic handler reboots the chip (reset reason
    # ESP_RST_PANIC, which machine.reset_cause() reports as HARD_RESET).
    import vb_machine

    print("abort() was called: flash write to a protected region (running app)")
    vb_machine.reset()


def _check_write(addr, size):
    # esp_partition_main_flash_region_safe
    r = _running
    if addr <= _PT_END or (r[2] <= addr < r[2] + r[3]) or (addr < r[2] and addr + size > r[2]):
        _abort()


def _boot_entry():
    # esp_ota_get_boot_partition (esp_ota_ops.c:670-697): no otadata -> None
    # (ENOENT); blank/invalid otadata -> the default app (factory, else ota_0).
    if _otadata() is None:
        return None
    otas = _otas()
    entries = _read_otadata()
    active = _active(entries)
    if (_invalid(entries[0]) and _invalid(entries[1])) or not otas or active < 0:
        f = _find_first(TYPE_APP, _SUB_FACTORY)
        return f if f is not None else (otas[0] if otas else None)
    return otas[(entries[active][0] - 1) % len(otas)]


class Partition:
    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1

    def __init__(self, id, block_size=_SECTOR):
        if isinstance(id, tuple):  # vboard-internal: a partition table entry
            e = id
        elif isinstance(id, int):
            if id == Partition.RUNNING:
                e = _running
            elif id == Partition.BOOT:
                e = _boot_entry()
            else:
                raise ValueError
        else:
            # esp_partition_find_first(APP, ANY, label), then (DATA, ANY, label)
            e = None
            for t in (TYPE_APP, TYPE_DATA):
                for x in _table:
                    if e is None and x[0] == t and x[4] == id:
                        e = x
        self._setup(e, block_size)

    def _setup(self, e, block_size):
        if e is None:
            raise OSError(2)  # MP_ENOENT (esp32_partition_new)
        self._e = e
        self._bs = block_size & 0xFFFF  # uint16_t in the port
        self._cache = bytearray(_SECTOR) if self._bs < _SECTOR else None

    @staticmethod
    def _of(e, block_size=_SECTOR):
        return Partition(e, block_size)

    @staticmethod
    def find(type=TYPE_APP, subtype=0xFF, label=None, block_size=_SECTOR):
        out = []
        for e in _table:
            if e[0] == type and (subtype == 0xFF or e[1] == subtype) and (label is None or e[4] == label):
                out.append(Partition._of(e, block_size))
        return out

    def info(self):
        t, st, off, size, label = self._e
        return (t, st, off, size, label, False)

    def __repr__(self):
        t, st, off, size, label = self._e
        return "<Partition type=%u, subtype=%u, address=%u, size=%u, label=%s, encrypted=0>" % (t, st, off, size, label)

    # esp_partition_read / write / erase_range, with their argument checks
    # (partition_target.c); offsets are uint32_t in the port.
    def _span(self, offset, n):
        size = self._e[3]
        if offset > size:
            check_esp_err(ESP_ERR_INVALID_ARG)
        if n > size - offset:
            check_esp_err(ESP_ERR_INVALID_SIZE)
        return self._e[2] + offset

    def _read(self, offset, buf):
        _flash.read(self._span(offset, len(buf)), buf)

    def _write(self, offset, buf):
        addr = self._span(offset, len(buf))
        _check_write(addr, len(buf))
        _flash.program(addr, buf)

    def _erase(self, offset, n):
        addr = self._span(offset, n)
        if n % _SECTOR:
            check_esp_err(ESP_ERR_INVALID_SIZE)
        if offset % _SECTOR:
            check_esp_err(ESP_ERR_INVALID_ARG)
        _check_write(addr, n)
        _flash.erase(addr, n)

    def readblocks(self, block, buf, off=0):
        self._read((block * self._bs + off) & 0xFFFFFFFF, buf)

    def writeblocks(self, block, buf, off=None):
        offset = (block * self._bs) & 0xFFFFFFFF
        if off is None:
            # A simple write: erase first.  esp_partition_erase_range wants
            # whole 4 KiB sectors, so a buffer that is not a multiple of
            # 4 KiB fails with ESP_ERR_INVALID_SIZE before anything is erased.
            if self._bs >= _SECTOR:
                self._erase(offset, len(buf))
            else:
                cache = self._cache
                addr = offset - offset % _SECTOR
                o = offset % _SECTOR
                top = offset + len(buf)
                while addr < top:
                    if o > 0 or top < addr + _SECTOR:
                        self._read(addr, cache)
                    self._erase(addr, _SECTOR)
                    if o > 0:
                        self._write(addr, memoryview(cache)[:o])
                    if top < addr + _SECTOR:
                        self._write(top, memoryview(cache)[top - addr :])
                    o = 0
                    addr += _SECTOR
        else:
            offset = (offset + off) & 0xFFFFFFFF
        self._write(offset, buf)

    def ioctl(self, op, arg):
        if op in (1, 2, 3):  # init, deinit, sync
            return 0
        if op == 4:
            return self._e[3] // self._bs
        if op == 5:
            return self._bs
        if op == 6:
            if self._bs != _SECTOR:
                return -22  # -MP_EINVAL
            self._erase((arg * _SECTOR) & 0xFFFFFFFF, _SECTOR)
            return 0
        return None

    def set_boot(self):
        # esp_ota_set_boot_partition: the image is verified first, whatever
        # the partition.
        e = self._e
        if not _image_ok(e):
            check_esp_err(ESP_ERR_OTA_VALIDATE_FAILED)
        if e[0] != TYPE_APP:
            check_esp_err(ESP_ERR_INVALID_ARG)
        od = _otadata()
        if e[1] == _SUB_FACTORY:
            if od is None:
                check_esp_err(ESP_ERR_NOT_FOUND)
            self._raw_erase(od)
            return
        # esp_rewrite_ota_data
        if od is None:
            check_esp_err(ESP_ERR_NOT_FOUND)
        n = len(_otas())
        sub = e[1] & 0x0F
        if sub >= n or e[1] < _SUB_OTA0:
            check_esp_err(ESP_ERR_INVALID_ARG)
        entries = _read_otadata()
        active = _active(entries)
        if active >= 0:
            # the smallest seq >= the active one that selects this slot,
            # written over the other sector
            seq = entries[active][0]
            i = 0
            while seq > (sub + 1) % n + i * n:
                i += 1
            nxt = (~active) & 1
            entries[nxt][2] = ST_NEW
            entries[nxt][0] = (sub + 1) % n + i * n
        else:
            nxt = 0
            entries[0][2] = ST_NEW
            entries[0][0] = sub + 1
        _write_otadata(nxt, entries[nxt])

    @staticmethod
    def _raw_erase(e):
        _check_write(e[2], e[3])
        _flash.erase(e[2], e[3])

    def get_next_update(self):
        # esp_ota_get_next_update_partition(self): the OTA slot after this
        # partition, else the first OTA slot.
        default = None
        take = False
        for e in _otas():
            if default is None:
                default = e
            if e == self._e:
                take = True
            elif take:
                return Partition._of(e)
        return Partition._of(default)

    @classmethod
    def mark_app_valid_cancel_rollback(cls):
        # esp_ota_current_ota_is_workable(true): the *active* entry (highest
        # valid ota_seq) becomes VALID whatever its state and whichever app
        # is running.  So confirming after set_boot() and before the reset
        # marks the new app VALID: it boots with no trial and can never be
        # rolled back -- a real pitfall, kept (tests/vboard/test_esp32.py).
        if _otadata() is None:
            check_esp_err(ESP_ERR_NOT_FOUND)
        entries = _read_otadata()
        active = _active(entries)
        if active < 0 or not _otas():
            check_esp_err(ESP_FAIL)  # "Running firmware is factory"
        if entries[active][2] != ST_VALID:
            entries[active][2] = ST_VALID
            _write_otadata(active, entries[active])


class NVS:
    """esp32.NVS over the board's nvs partition (see vb_nvs for the format)."""

    def __init__(self, namespace):
        import vb_nvs

        self._s = vb_nvs.open_namespace(_flash, _find_first(TYPE_DATA, 0x02), namespace)

    def __repr__(self):
        return "<NVS namespace>"

    def set_i32(self, key, value):
        self._s.set(key, 1, struct.pack("<i", ((value + 0x80000000) & 0xFFFFFFFF) - 0x80000000))

    def get_i32(self, key):
        return struct.unpack("<i", self._s.get(key, 1))[0]

    def set_blob(self, key, value):
        self._s.set(key, 2, bytes(value))

    def get_blob(self, key, buf):
        v = self._s.get(key, 2)
        if len(v) > len(buf):
            check_esp_err(0x110C)  # ESP_ERR_NVS_INVALID_LENGTH
        buf[: len(v)] = v
        return len(v)

    def erase_key(self, key):
        self._s.erase(key)

    def commit(self):
        pass  # ESP-IDF writes each set/erase to flash at once; commit has nothing left to do
