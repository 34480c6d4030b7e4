# Virtual board: the store behind esp32.NVS, in the board's nvs partition.
#
# The API and its errors follow micropython ports/esp32/esp32_nvs.c and
# ESP-IDF v5.5 nvs_flash (keys and namespaces at most 15 characters,
# ESP_ERR_NVS_NOT_FOUND for a missing key or one of another type, a set
# replaces a key of any type, every set/erase reaches flash at once).
# The on-flash format is NOT ESP-IDF's page format: the partition is two
# slots (its two halves); each write rewrites the whole store into the
# other slot, data first and its header (magic, seq, length, crc32) last, so
# a power cut leaves either the old or the new store, never a mix.
import struct

from micropython import const

_SECTOR = const(4096)
_MAGIC = b"SBDNVS01"
_HDR = const(20)  # magic, seq, length, crc32


def _err(code):
    import vb_esp32

    vb_esp32.check_esp_err(code)


def _name(s):
    s = str(s)
    if len(s.encode()) > 15:
        _err(0x1109)  # ESP_ERR_NVS_KEY_TOO_LONG
    return s


class _Store:
    def __init__(self, flash, part):
        self.flash = flash
        if part is None:
            _err(0x1101)  # ESP_ERR_NVS_NOT_INITIALIZED
        self.off = part[2]
        self.slot = (part[3] // 2) // _SECTOR * _SECTOR
        self.items = {}
        self.seq = 0
        self.cur = 1
        best = None
        hdr = bytearray(_HDR)
        for i in range(2):
            base = self.off + i * self.slot
            flash.read(base, hdr)
            magic, seq, n, crc = struct.unpack("<8sIII", hdr)
            if magic != _MAGIC or n > self.slot - _HDR:
                continue
            body = bytearray(n)
            flash.read(base + _HDR, body)
            import binascii

            if binascii.crc32(body) & 0xFFFFFFFF != crc:
                continue
            if best is None or seq > best[0]:
                best = (seq, i, body)
        if best is not None:
            self.seq, self.cur = best[0], best[1]
            self._parse(best[2])

    def _parse(self, b):
        i = 0
        while i < len(b):
            ln = b[i]
            ns = bytes(b[i + 1 : i + 1 + ln]).decode()
            i += 1 + ln
            ln = b[i]
            key = bytes(b[i + 1 : i + 1 + ln]).decode()
            i += 1 + ln
            t, n = struct.unpack_from("<BI", b, i)
            i += 5
            self.items[(ns, key)] = (t, bytes(b[i : i + n]))
            i += n

    def save(self):
        import binascii

        out = bytearray()
        for (ns, key), (t, v) in self.items.items():
            out += bytes([len(ns)]) + ns.encode() + bytes([len(key)]) + key.encode()
            out += struct.pack("<BI", t, len(v)) + v
        if len(out) > self.slot - _HDR:
            _err(0x1105)  # ESP_ERR_NVS_NOT_ENOUGH_SPACE
        nxt = 1 - self.cur
        base = self.off + nxt * self.slot
        self.flash.erase(base, self.slot)
        if out:
            self.flash.program(base + _HDR, out)
        self.seq += 1
        self.flash.program(base, struct.pack("<8sIII", _MAGIC, self.seq, len(out), binascii.crc32(out) & 0xFFFFFFFF))
        self.cur = nxt


class _Namespace:
    def __init__(self, store, ns):
        self.store = store
        self.ns = ns

    def set(self, key, t, value):
        self.store.items[(self.ns, _name(key))] = (t, value)
        self.store.save()

    def get(self, key, t):
        v = self.store.items.get((self.ns, _name(key)))
        if v is None or v[0] != t:
            _err(0x1102)  # ESP_ERR_NVS_NOT_FOUND
        return v[1]

    def erase(self, key):
        k = (self.ns, _name(key))
        if k not in self.store.items:
            _err(0x1102)
        del self.store.items[k]
        self.store.save()


_store = None  # one store per boot, shared by every NVS object


def open_namespace(flash, part, namespace):
    global _store
    ns = _name(namespace)
    if _store is None:
        _store = _Store(flash, part)
    return _Namespace(_store, ns)
