# SHA-512 (FIPS 180-4), which MicroPython's hashlib lacks and Ed25519 needs.
#
# Ed25519 hashes only R || A || M, and sbd signs small manifests (never whole
# images), so this hashes a few hundred bytes per verify.  Backends, the
# first that passes the known-answer test at import wins:
#   "hashlib"  hashlib.sha512 where the runtime has one (CPython, or a
#              firmware built with it)
#   "native"   sbd_native.sha512 from a user-built native module (docs/crypto.md)
#   "viper"    the compression function in @micropython.viper on 32-bit word
#              halves, masked explicitly so it is right whether viper words
#              are 32 bits (boards) or 64 (unix port); ~60x the portable one
#   "portable" plain Python on 64-bit ints (bignums on MicroPython: slow,
#              ~0.3 ms per 128-byte block on unix, but always correct), in
#              sbd/crypto/_sha512_portable.py, loaded only if selected
# use(name) re-selects a backend after the same known-answer test.
from micropython import const
import micropython

from sbd.crypto import CryptoError, require_bytes

DIGEST_SIZE = const(64)
BLOCK_SIZE = const(128)

# Round constants K[0..79] and the initial hash value, FIPS 180-4 section 4.2.3
# and 5.3.5: each 64-bit word stored as its (hi, lo) 32-bit halves, each half
# little-endian, the layout the viper code reads with ptr32.  Kept as bytes
# literals (used in place, no conversion at import): the constants of a
# module stay in RAM as long as its functions do, so a hex string plus a
# converted copy would cost twice.  A wrong byte fails the known-answer test
# below and the FIPS examples in tests/device/test_crypto_sha512.py.
_K = (
    b"\x98\x2f\x8a\x42\x22\xae\x28\xd7\x91\x44\x37\x71\xcd\x65\xef\x23"
    b"\xcf\xfb\xc0\xb5\x2f\x3b\x4d\xec\xa5\xdb\xb5\xe9\xbc\xdb\x89\x81"
    b"\x5b\xc2\x56\x39\x38\xb5\x48\xf3\xf1\x11\xf1\x59\x19\xd0\x05\xb6"
    b"\xa4\x82\x3f\x92\x9b\x4f\x19\xaf\xd5\x5e\x1c\xab\x18\x81\x6d\xda"
    b"\x98\xaa\x07\xd8\x42\x02\x03\xa3\x01\x5b\x83\x12\xbe\x6f\x70\x45"
    b"\xbe\x85\x31\x24\x8c\xb2\xe4\x4e\xc3\x7d\x0c\x55\xe2\xb4\xff\xd5"
    b"\x74\x5d\xbe\x72\x6f\x89\x7b\xf2\xfe\xb1\xde\x80\xb1\x96\x16\x3b"
    b"\xa7\x06\xdc\x9b\x35\x12\xc7\x25\x74\xf1\x9b\xc1\x94\x26\x69\xcf"
    b"\xc1\x69\x9b\xe4\xd2\x4a\xf1\x9e\x86\x47\xbe\xef\xe3\x25\x4f\x38"
    b"\xc6\x9d\xc1\x0f\xb5\xd5\x8c\x8b\xcc\xa1\x0c\x24\x65\x9c\xac\x77"
    b"\x6f\x2c\xe9\x2d\x75\x02\x2b\x59\xaa\x84\x74\x4a\x83\xe4\xa6\x6e"
    b"\xdc\xa9\xb0\x5c\xd4\xfb\x41\xbd\xda\x88\xf9\x76\xb5\x53\x11\x83"
    b"\x52\x51\x3e\x98\xab\xdf\x66\xee\x6d\xc6\x31\xa8\x10\x32\xb4\x2d"
    b"\xc8\x27\x03\xb0\x3f\x21\xfb\x98\xc7\x7f\x59\xbf\xe4\x0e\xef\xbe"
    b"\xf3\x0b\xe0\xc6\xc2\x8f\xa8\x3d\x47\x91\xa7\xd5\x25\xa7\x0a\x93"
    b"\x51\x63\xca\x06\x6f\x82\x03\xe0\x67\x29\x29\x14\x70\x6e\x0e\x0a"
    b"\x85\x0a\xb7\x27\xfc\x2f\xd2\x46\x38\x21\x1b\x2e\x26\xc9\x26\x5c"
    b"\xfc\x6d\x2c\x4d\xed\x2a\xc4\x5a\x13\x0d\x38\x53\xdf\xb3\x95\x9d"
    b"\x54\x73\x0a\x65\xde\x63\xaf\x8b\xbb\x0a\x6a\x76\xa8\xb2\x77\x3c"
    b"\x2e\xc9\xc2\x81\xe6\xae\xed\x47\x85\x2c\x72\x92\x3b\x35\x82\x14"
    b"\xa1\xe8\xbf\xa2\x64\x03\xf1\x4c\x4b\x66\x1a\xa8\x01\x30\x42\xbc"
    b"\x70\x8b\x4b\xc2\x91\x97\xf8\xd0\xa3\x51\x6c\xc7\x30\xbe\x54\x06"
    b"\x19\xe8\x92\xd1\x18\x52\xef\xd6\x24\x06\x99\xd6\x10\xa9\x65\x55"
    b"\x85\x35\x0e\xf4\x2a\x20\x71\x57\x70\xa0\x6a\x10\xb8\xd1\xbb\x32"
    b"\x16\xc1\xa4\x19\xc8\xd0\xd2\xb8\x08\x6c\x37\x1e\x53\xab\x41\x51"
    b"\x4c\x77\x48\x27\x99\xeb\x8e\xdf\xb5\xbc\xb0\x34\xa8\x48\x9b\xe1"
    b"\xb3\x0c\x1c\x39\x63\x5a\xc9\xc5\x4a\xaa\xd8\x4e\xcb\x8a\x41\xe3"
    b"\x4f\xca\x9c\x5b\x73\xe3\x63\x77\xf3\x6f\x2e\x68\xa3\xb8\xb2\xd6"
    b"\xee\x82\x8f\x74\xfc\xb2\xef\x5d\x6f\x63\xa5\x78\x60\x2f\x17\x43"
    b"\x14\x78\xc8\x84\x72\xab\xf0\xa1\x08\x02\xc7\x8c\xec\x39\x64\x1a"
    b"\xfa\xff\xbe\x90\x28\x1e\x63\x23\xeb\x6c\x50\xa4\xe9\xbd\x82\xde"
    b"\xf7\xa3\xf9\xbe\x15\x79\xc6\xb2\xf2\x78\x71\xc6\x2b\x53\x72\xe3"
    b"\xce\x3e\x27\xca\x9c\x61\x26\xea\xc7\xb8\x86\xd1\x07\xc2\xc0\x21"
    b"\xd6\x7d\xda\xea\x1e\xeb\xe0\xcd\x7f\x4f\x7d\xf5\x78\xd1\x6e\xee"
    b"\xaa\x67\xf0\x06\xba\x6f\x17\x72\xc5\x7d\x63\x0a\xa6\x98\xc8\xa2"
    b"\x04\x98\x3f\x11\xae\x0d\xf9\xbe\x35\x0b\x71\x1b\x1b\x47\x1c\x13"
    b"\xf5\x77\xdb\x28\x84\x7d\x04\x23\x7b\xab\xca\x32\x93\x24\xc7\x40"
    b"\x0a\xbe\x9e\x3c\xbc\xbe\xc9\x15\xc4\x67\x1d\x43\x4c\x0d\x10\x9c"
    b"\xbe\xd4\xc5\x4c\xb6\x42\x3e\xcb\x9c\x29\x7f\x59\x2a\x7e\x65\xfc"
    b"\xab\x6f\xcb\x5f\xec\xfa\xd6\x3a\x8c\x19\x44\x6c\x17\x58\x47\x4a"
)
_IV = (
    b"\x67\xe6\x09\x6a\x08\xc9\xbc\xf3\x85\xae\x67\xbb\x3b\xa7\xca\x84"
    b"\x72\xf3\x6e\x3c\x2b\xf8\x94\xfe\x3a\xf5\x4f\xa5\xf1\x36\x1d\x5f"
    b"\x7f\x52\x0e\x51\xd1\x82\xe6\xad\x8c\x68\x05\x9b\x1f\x6c\x3e\x2b"
    b"\xab\xd9\x83\x1f\x6b\xbd\x41\xfb\x19\xcd\xe0\x5b\x79\x21\x7e\x13"
)
_W = bytearray(640)  # message schedule scratch, shared (no threads on sbd devices)


@micropython.viper
def _compress_viper(h, block, w, k):
    # h: 8 words as (hi, lo) uint32 pairs; block: 128 bytes; w: 640-byte
    # scratch; k: round constants in h's layout.  Every value is kept below
    # 2**32 by explicit masks so 64-bit viper words give the same result.
    M = uint(0xFFFFFFFF)
    ph = ptr32(h)
    pb = ptr8(block)
    pw = ptr32(w)
    pk = ptr32(k)
    t = 0
    while t < 32:
        j = t * 4
        pw[t] = (uint(pb[j]) << 24) | (uint(pb[j + 1]) << 16) | (uint(pb[j + 2]) << 8) | uint(pb[j + 3])
        t += 1
    t = 16
    while t < 80:
        # s1 = sigma1(W[t-2]) = ROTR19 ^ ROTR61 ^ SHR6
        xh = uint(pw[2 * t - 4])
        xl = uint(pw[2 * t - 3])
        s1h = ((xh >> 19) | (xl << 13)) ^ ((xl >> 29) | (xh << 3)) ^ (xh >> 6)
        s1l = ((xl >> 19) | (xh << 13)) ^ ((xh >> 29) | (xl << 3)) ^ ((xl >> 6) | (xh << 26))
        # s0 = sigma0(W[t-15]) = ROTR1 ^ ROTR8 ^ SHR7
        xh = uint(pw[2 * t - 30])
        xl = uint(pw[2 * t - 29])
        s0h = ((xh >> 1) | (xl << 31)) ^ ((xh >> 8) | (xl << 24)) ^ (xh >> 7)
        s0l = ((xl >> 1) | (xh << 31)) ^ ((xl >> 8) | (xh << 24)) ^ ((xl >> 7) | (xh << 25))
        s1h &= M
        s1l &= M
        s0h &= M
        s0l &= M
        # W[t] = s1 + W[t-7] + s0 + W[t-16], 64-bit adds with carry from the
        # low halves: carry = top bit of (a & b) | ((a | b) & ~sum).
        bh = uint(pw[2 * t - 14])
        bl = uint(pw[2 * t - 13])
        lo = (s1l + bl) & M
        hi = s1h + bh + ((((s1l & bl) | ((s1l | bl) & (lo ^ M))) >> 31) & 1)
        bl = lo
        lo = (bl + s0l) & M
        hi = hi + s0h + ((((bl & s0l) | ((bl | s0l) & (lo ^ M))) >> 31) & 1)
        bh = uint(pw[2 * t - 32])
        bl = uint(pw[2 * t - 31])
        s0l = lo
        lo = (s0l + bl) & M
        hi = hi + bh + ((((s0l & bl) | ((s0l | bl) & (lo ^ M))) >> 31) & 1)
        pw[2 * t] = hi & M
        pw[2 * t + 1] = lo
        t += 1
    ah = uint(ph[0])
    al = uint(ph[1])
    bh = uint(ph[2])
    bl = uint(ph[3])
    ch = uint(ph[4])
    cl = uint(ph[5])
    dh = uint(ph[6])
    dl = uint(ph[7])
    eh = uint(ph[8])
    el = uint(ph[9])
    fh = uint(ph[10])
    fl = uint(ph[11])
    gh = uint(ph[12])
    gl = uint(ph[13])
    hh = uint(ph[14])
    hl = uint(ph[15])
    t = 0
    while t < 80:
        # T1 = h + Sigma1(e) + Ch(e, f, g) + K[t] + W[t]
        sh = ((eh >> 14) | (el << 18)) ^ ((eh >> 18) | (el << 14)) ^ ((el >> 9) | (eh << 23))
        sl = ((el >> 14) | (eh << 18)) ^ ((el >> 18) | (eh << 14)) ^ ((eh >> 9) | (el << 23))
        sh &= M
        sl &= M
        lo = (hl + sl) & M
        hi = hh + sh + ((((hl & sl) | ((hl | sl) & (lo ^ M))) >> 31) & 1)
        xl = (el & fl) ^ ((el ^ M) & gl)
        xh = (eh & fh) ^ ((eh ^ M) & gh)
        sl = lo
        lo = (sl + xl) & M
        hi = hi + xh + ((((sl & xl) | ((sl | xl) & (lo ^ M))) >> 31) & 1)
        xh = uint(pk[2 * t])
        xl = uint(pk[2 * t + 1])
        sl = lo
        lo = (sl + xl) & M
        hi = hi + xh + ((((sl & xl) | ((sl | xl) & (lo ^ M))) >> 31) & 1)
        xh = uint(pw[2 * t])
        xl = uint(pw[2 * t + 1])
        sl = lo
        lo = (sl + xl) & M
        t1h = (hi + xh + ((((sl & xl) | ((sl | xl) & (lo ^ M))) >> 31) & 1)) & M
        t1l = lo
        # T2 = Sigma0(a) + Maj(a, b, c)
        sh = ((ah >> 28) | (al << 4)) ^ ((al >> 2) | (ah << 30)) ^ ((al >> 7) | (ah << 25))
        sl = ((al >> 28) | (ah << 4)) ^ ((ah >> 2) | (al << 30)) ^ ((ah >> 7) | (al << 25))
        sh &= M
        sl &= M
        xh = (ah & bh) ^ (ah & ch) ^ (bh & ch)
        xl = (al & bl) ^ (al & cl) ^ (bl & cl)
        lo = (sl + xl) & M
        t2h = (sh + xh + ((((sl & xl) | ((sl | xl) & (lo ^ M))) >> 31) & 1)) & M
        t2l = lo
        hh = gh
        hl = gl
        gh = fh
        gl = fl
        fh = eh
        fl = el
        lo = (dl + t1l) & M
        eh = (dh + t1h + ((((dl & t1l) | ((dl | t1l) & (lo ^ M))) >> 31) & 1)) & M
        el = lo
        dh = ch
        dl = cl
        ch = bh
        cl = bl
        bh = ah
        bl = al
        lo = (t1l + t2l) & M
        ah = (t1h + t2h + ((((t1l & t2l) | ((t1l | t2l) & (lo ^ M))) >> 31) & 1)) & M
        al = lo
        t += 1
    # H[i] += working variable i
    lo = (uint(ph[1]) + al) & M
    ph[0] = (uint(ph[0]) + ah + ((((uint(ph[1]) & al) | ((uint(ph[1]) | al) & (lo ^ M))) >> 31) & 1)) & M
    ph[1] = lo
    lo = (uint(ph[3]) + bl) & M
    ph[2] = (uint(ph[2]) + bh + ((((uint(ph[3]) & bl) | ((uint(ph[3]) | bl) & (lo ^ M))) >> 31) & 1)) & M
    ph[3] = lo
    lo = (uint(ph[5]) + cl) & M
    ph[4] = (uint(ph[4]) + ch + ((((uint(ph[5]) & cl) | ((uint(ph[5]) | cl) & (lo ^ M))) >> 31) & 1)) & M
    ph[5] = lo
    lo = (uint(ph[7]) + dl) & M
    ph[6] = (uint(ph[6]) + dh + ((((uint(ph[7]) & dl) | ((uint(ph[7]) | dl) & (lo ^ M))) >> 31) & 1)) & M
    ph[7] = lo
    lo = (uint(ph[9]) + el) & M
    ph[8] = (uint(ph[8]) + eh + ((((uint(ph[9]) & el) | ((uint(ph[9]) | el) & (lo ^ M))) >> 31) & 1)) & M
    ph[9] = lo
    lo = (uint(ph[11]) + fl) & M
    ph[10] = (uint(ph[10]) + fh + ((((uint(ph[11]) & fl) | ((uint(ph[11]) | fl) & (lo ^ M))) >> 31) & 1)) & M
    ph[11] = lo
    lo = (uint(ph[13]) + gl) & M
    ph[12] = (uint(ph[12]) + gh + ((((uint(ph[13]) & gl) | ((uint(ph[13]) | gl) & (lo ^ M))) >> 31) & 1)) & M
    ph[13] = lo
    lo = (uint(ph[15]) + hl) & M
    ph[14] = (uint(ph[14]) + hh + ((((uint(ph[15]) & hl) | ((uint(ph[15]) | hl) & (lo ^ M))) >> 31) & 1)) & M
    ph[15] = lo


class _Sha512:
    """Streaming SHA-512 over a compression function (hashlib-like API)."""

    def __init__(self, data=b""):
        self._h = bytearray(_IV)
        self._buf = bytearray(BLOCK_SIZE)
        self._n = 0
        self._len = 0
        require_bytes(data)
        if data:
            self.update(data)

    def update(self, data):
        require_bytes(data)
        mv = memoryview(data)
        n = len(mv)
        self._len += n
        pos = 0
        c = _compress
        if self._n:
            take = min(BLOCK_SIZE - self._n, n)
            self._buf[self._n : self._n + take] = mv[:take]
            self._n += take
            pos = take
            if self._n < BLOCK_SIZE:
                return
            c(self._h, self._buf, _W, _K)
            self._n = 0
        while n - pos >= BLOCK_SIZE:
            c(self._h, mv[pos : pos + BLOCK_SIZE], _W, _K)
            pos += BLOCK_SIZE
        if pos < n:
            self._buf[: n - pos] = mv[pos:]
            self._n = n - pos

    def digest(self):
        # Pad a copy so the object can still be updated (hashlib semantics).
        h = bytearray(self._h)
        buf = bytearray(self._buf)
        n = self._n
        buf[n] = 0x80
        for i in range(n + 1, BLOCK_SIZE):
            buf[i] = 0
        if n >= BLOCK_SIZE - 16:
            _compress(h, buf, _W, _K)
            for i in range(BLOCK_SIZE):
                buf[i] = 0
        buf[BLOCK_SIZE - 16 :] = (self._len * 8).to_bytes(16, "big")
        _compress(h, buf, _W, _K)
        out = bytearray(DIGEST_SIZE)
        for i in range(0, DIGEST_SIZE, 4):
            out[i] = h[i + 3]
            out[i + 1] = h[i + 2]
            out[i + 2] = h[i + 1]
            out[i + 3] = h[i]
        return bytes(out)


# Known answer: SHA-512 of 200 bytes 0..199 (two blocks plus padding, so
# the schedule, the carries and the length encoding are all exercised).
_KAT_DIGEST = (
    "986058e9895e2c2ab8f9e8cbdf801db12a44842a56a91d5a4e87b1fc98b29372"
    "2c4664142e42c3c551ff898646268cd92b84ed230b8c94bed7798d4f27cd7465"
)
BACKEND = None
sha512 = None  # the constructor in use: sha512(data=b"") -> object with update/digest
_compress = None


def _constructor(name):
    global _compress
    if name == "hashlib":
        import hashlib

        return getattr(hashlib, "sha512", None)
    if name == "native":
        try:
            import sbd_native
        except ImportError:
            return None
        return getattr(sbd_native, "sha512", None)
    if name == "viper":
        _compress = _compress_viper
    else:
        # Only loaded when needed: it is dead weight in RAM beside viper.
        from sbd.crypto._sha512_portable import compress

        _compress = compress
    return _Sha512


def use(name):
    """Select a SHA-512 backend ("hashlib", "native", "viper", "portable")
    after its known-answer test; return True if it is now in use."""
    global BACKEND, sha512, _compress
    saved = _compress
    try:
        ctor = _constructor(name)
        ok = ctor is not None and ctor(bytes(range(200))).digest() == bytes.fromhex(_KAT_DIGEST)
    except Exception:  # a fault in this backend on this port: fall back
        ok = False
    if ok:
        BACKEND, sha512 = name, ctor
    else:
        _compress = saved
    return ok


def digest(data):
    require_bytes(data)
    return sha512(data).digest()


for _name in ("hashlib", "native", "viper", "portable"):
    if use(_name):
        break
if BACKEND is None:
    raise CryptoError("no working SHA-512")
