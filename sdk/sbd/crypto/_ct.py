# The loop behind sbd.crypto.ct_equal: OR of the XOR of every byte pair, in
# viper where it passes a self-test on this board (about 30x faster than the
# Python loop, which matters for a 32-byte tag beside a 1 KiB AEAD record),
# else in plain Python.  Both have no early exit and no data-dependent
# branch, so the time depends only on the length.  Callers check the types
# first (sbd.crypto.require_bytes): n is a byte count.  Loaded on first use, so
# apps that never compare tags (an Ed25519 verifier) do not hold it in RAM.
import micropython


def _ct_or_portable(a, b, n):
    # & 0xFF: a memoryview of format "b" yields -128..127, the same byte as
    # 128..255 from bytes; the viper loop reads raw bytes anyway.
    r = 0
    for i in range(n):
        r |= (a[i] ^ b[i]) & 0xFF
    return r


@micropython.viper
def _ct_or_viper(a, b, n: int) -> int:
    pa = ptr8(a)
    pb = ptr8(b)
    r = 0
    i = 0
    while i < n:
        r |= pa[i] ^ pb[i]
        i += 1
    return r


def _self_test(f):
    # Equal inputs give 0; a difference in the first, a middle or the last
    # byte (its lowest or highest bit) gives non-zero; memoryview offsets count.
    a = bytes(range(1, 33))
    try:
        if f(a, bytearray(a), 32) != 0 or f(memoryview(a)[1:], a[1:], 31) != 0:
            return False
        for i in (0, 17, 31):
            for bit in (1, 0x80):
                b = bytearray(a)
                b[i] ^= bit
                if f(a, b, 32) == 0:
                    return False
        return f(memoryview(a)[:4], b"\x01\x02\x03\x05", 4) != 0
    except Exception:  # viper unusable on this port: fall back
        return False


ct_or = _ct_or_viper if _self_test(_ct_or_viper) else _ct_or_portable
BACKEND = "viper" if ct_or is _ct_or_viper else "portable"
