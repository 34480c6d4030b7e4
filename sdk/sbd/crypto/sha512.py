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

from sbd.crypto import CryptoError

DIGEST_SIZE = const(64)
BLOCK_SIZE = const(128)

def _words_le(hexstr):
    # 64-bit big-endian words -> (hi, lo) pairs of little-endian 32-bit words,
    # the layout the viper code reads with ptr32.
    raw = bytes.fromhex(hexstr)
    out = bytearray(len(raw))
    for i in range(0, len(raw), 4):
        out[i] = raw[i + 3]
        out[i + 1] = raw[i + 2]
        out[i + 2] = raw[i + 1]
        out[i + 3] = raw[i]
    return out


# Round constants and initial hash value, big-endian 64-bit words in hex,
# passed inline so the hex strings are garbage once the module is imported.
_K = _words_le(
    "428a2f98d728ae227137449123ef65cdb5c0fbcfec4d3b2fe9b5dba58189dbbc"
    "3956c25bf348b53859f111f1b605d019923f82a4af194f9bab1c5ed5da6d8118"
    "d807aa98a303024212835b0145706fbe243185be4ee4b28c550c7dc3d5ffb4e2"
    "72be5d74f27b896f80deb1fe3b1696b19bdc06a725c71235c19bf174cf692694"
    "e49b69c19ef14ad2efbe4786384f25e30fc19dc68b8cd5b5240ca1cc77ac9c65"
    "2de92c6f592b02754a7484aa6ea6e4835cb0a9dcbd41fbd476f988da831153b5"
    "983e5152ee66dfaba831c66d2db43210b00327c898fb213fbf597fc7beef0ee4"
    "c6e00bf33da88fc2d5a79147930aa72506ca6351e003826f142929670a0e6e70"
    "27b70a8546d22ffc2e1b21385c26c9264d2c6dfc5ac42aed53380d139d95b3df"
    "650a73548baf63de766a0abb3c77b2a881c2c92e47edaee692722c851482353b"
    "a2bfe8a14cf10364a81a664bbc423001c24b8b70d0f89791c76c51a30654be30"
    "d192e819d6ef5218d69906245565a910f40e35855771202a106aa07032bbd1b8"
    "19a4c116b8d2d0c81e376c085141ab532748774cdf8eeb9934b0bcb5e19b48a8"
    "391c0cb3c5c95a634ed8aa4ae3418acb5b9cca4f7763e373682e6ff3d6b2b8a3"
    "748f82ee5defb2fc78a5636f43172f6084c87814a1f0ab728cc702081a6439ec"
    "90befffa23631e28a4506cebde82bde9bef9a3f7b2c67915c67178f2e372532b"
    "ca273eceea26619cd186b8c721c0c207eada7dd6cde0eb1ef57d4f7fee6ed178"
    "06f067aa72176fba0a637dc5a2c898a6113f9804bef90dae1b710b35131c471b"
    "28db77f523047d8432caab7b40c724933c9ebe0a15c9bebc431d67c49c100d4c"
    "4cc5d4becb3e42b6597f299cfc657e2a5fcb6fab3ad6faec6c44198c4a475817"
)
_IV = bytes(_words_le(
    "6a09e667f3bcc908bb67ae8584caa73b3c6ef372fe94f82ba54ff53a5f1d36f1"
    "510e527fade682d19b05688c2b3e6c1f1f83d9abfb41bd6b5be0cd19137e2179"
))
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
        if data:
            self.update(data)

    def update(self, data):
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
    return sha512(data).digest()


for _name in ("hashlib", "native", "viper", "portable"):
    if use(_name):
        break
if BACKEND is None:
    raise CryptoError("no working SHA-512")
