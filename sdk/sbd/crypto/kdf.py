# Key derivation: PBKDF2-HMAC-SHA256 (RFC 8018), and HKDF-SHA256 (RFC 5869)
# re-exported from sbd.crypto.hkdf, where it lives on its own: a module that
# only derives keys (identity, creds, aead) then never loads the viper loop
# and the known-answer test below (about 3 KiB of heap as .mpy).
#
# PBKDF2's inner loop is what a password check costs, so it is tuned for
# MicroPython, whose sha256 objects have no copy() (no saved midstates): each
# iteration is exactly two sha256 hashes of 96 bytes (ipad||U, opad||inner),
# over two buffers built once.  Three implementations of that loop exist:
#   "native"   hashlib.pbkdf2_hmac, where the runtime has it (CPython)
#   "viper"    the loop compiled by @micropython.viper: copies and XORs in
#              machine words, about the cost of the two hashes alone
#   "portable" plain Python, about 25% slower
# The fastest one that passes a known-answer test at import is used.
from micropython import const
import hashlib
import micropython

from sbd.crypto import MalformedInput, require_bytes
from sbd.crypto.hkdf import HKDF_MAX_LEN, hkdf, hkdf_expand, hkdf_extract  # noqa: F401 - the public API
from sbd.crypto.hmac import HmacSha256, key_pads

HASH_LEN = const(32)
PBKDF2_MAX_ITERATIONS = const(10_000_000)  # bounds the time one call can take
PBKDF2_MAX_LEN = const(1024)  # sbd never needs more; bounds RAM and time

_sha256 = hashlib.sha256


# -- PBKDF2-HMAC-SHA256 (RFC 8018 section 5.2) --------------------------------


def _loop_portable(n, bi, bo, acc):
    # bi = ipad || U(j-1), bo = opad || inner; acc ^= U(j); n more iterations.
    a = int.from_bytes(acc, "big")
    for _ in range(n):
        bo[64:] = _sha256(bi).digest()
        u = _sha256(bo).digest()
        bi[64:] = u
        a ^= int.from_bytes(u, "big")
    acc[:] = a.to_bytes(HASH_LEN, "big")


@micropython.viper
def _loop_viper(n: int, bi, bo, acc):
    pi = ptr32(bi)
    po = ptr32(bo)
    pa = ptr32(acc)
    i = 0
    while i < n:
        pd = ptr32(_sha256(bi).digest())
        po[16] = pd[0]
        po[17] = pd[1]
        po[18] = pd[2]
        po[19] = pd[3]
        po[20] = pd[4]
        po[21] = pd[5]
        po[22] = pd[6]
        po[23] = pd[7]
        pu = ptr32(_sha256(bo).digest())
        j = 0
        while j < 8:
            w = pu[j]
            pi[16 + j] = w
            pa[j] = pa[j] ^ w
            j += 1
        i += 1


def _pbkdf2_python(loop, password, salt, iterations, dklen):
    ipad, opad = key_pads(password)
    k = HmacSha256(password)
    bi = bytearray(96)
    bo = bytearray(96)
    bi[:64] = ipad
    bo[:64] = opad
    out = bytearray(dklen)
    pos = 0
    block = 1
    while pos < dklen:
        u = k.mac(salt, block.to_bytes(4, "big"))  # U1 = PRF(P, S || INT(i))
        acc = bytearray(u)
        bi[64:] = u
        loop(iterations - 1, bi, bo, acc)
        n = min(HASH_LEN, dklen - pos)
        out[pos : pos + n] = acc[:n]
        pos += n
        block += 1
    return bytes(out)


def _pbkdf2_native(password, salt, iterations, dklen):
    return hashlib.pbkdf2_hmac("sha256", bytes(password), bytes(salt), iterations, dklen)


# Known answer: PBKDF2-HMAC-SHA256("password", "salt", 3, 32), the same
# value as CPython's hashlib and pyca/cryptography (a count >= 3 makes the
# inner loop run and chain).
_KAT = (b"password", b"salt", 3, "ad35240ac683febfaf3cd49d845473fbbbaa2437f5f82d5a415ae00ac76c6bfc")
BACKEND = None
_impl = None


def _make(name):
    if name == "native":
        if not hasattr(hashlib, "pbkdf2_hmac"):
            return None
        return _pbkdf2_native
    loop = _loop_viper if name == "viper" else _loop_portable
    return lambda p, s, c, n: _pbkdf2_python(loop, p, s, c, n)


def use(name):
    """Select the PBKDF2 implementation ("native", "viper", "portable") after
    its known-answer test; return True if it is now in use."""
    global BACKEND, _impl
    try:
        f = _make(name)
        ok = f is not None and f(_KAT[0], _KAT[1], _KAT[2], HASH_LEN) == bytes.fromhex(_KAT[3])
    except Exception:  # a viper fault or missing feature on this port: not usable
        ok = False
    if ok:
        BACKEND, _impl = name, f
    return ok


def pbkdf2_hmac_sha256(password, salt, iterations, dklen=HASH_LEN):
    # Checked here, before any backend: hashlib.pbkdf2_hmac (behind bytes())
    # would take password=5 as five zero bytes.
    require_bytes(password, salt)
    if iterations < 1 or iterations > PBKDF2_MAX_ITERATIONS:
        raise MalformedInput("PBKDF2 iterations")
    if dklen < 1 or dklen > PBKDF2_MAX_LEN:
        raise MalformedInput("PBKDF2 length")
    return _impl(password, salt, iterations, dklen)


for _name in ("native", "viper", "portable"):
    if use(_name):
        break
