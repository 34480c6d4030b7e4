# Portable SHA-512 compression function (plain Python, 64-bit ints), the
# fallback of sbd.crypto.sha512 when neither a native nor the viper backend
# passes the known-answer test.  Kept apart so boards that use viper never
# load it.
from micropython import const

_M64 = const(0xFFFFFFFFFFFFFFFF)


def _rotr(x, n):
    return ((x >> n) | (x << (64 - n))) & _M64


def compress(h, block, w, k):
    # Same contract as sha512._compress_viper, on 64-bit Python ints.
    W = [0] * 80  # sized once: a growing list reallocates into a 1 KiB block
    for i in range(16):
        W[i] = int.from_bytes(block[8 * i : 8 * i + 8], "big")
    for t in range(16, 80):
        x = W[t - 2]
        s1 = _rotr(x, 19) ^ _rotr(x, 61) ^ (x >> 6)
        x = W[t - 15]
        s0 = _rotr(x, 1) ^ _rotr(x, 8) ^ (x >> 7)
        W[t] = (s1 + W[t - 7] + s0 + W[t - 16]) & _M64
    H = []
    for i in range(8):
        j = 8 * i
        H.append(
            (h[j + 3] << 56 | h[j + 2] << 48 | h[j + 1] << 40 | h[j] << 32)
            | (h[j + 7] << 24 | h[j + 6] << 16 | h[j + 5] << 8 | h[j + 4])
        )
    a, b, c, d, e, f, g, hh = H
    for t in range(80):
        # K[t] from the (hi, lo) little-endian words of k, made per round: a
        # cached list of 80 bignums would hold 8 KB of a 64 KiB heap for good.
        j = 8 * t
        kt = int.from_bytes(k[j : j + 4], "little") << 32 | int.from_bytes(k[j + 4 : j + 8], "little")
        t1 = (hh + (_rotr(e, 14) ^ _rotr(e, 18) ^ _rotr(e, 41)) + ((e & f) ^ (~e & g)) + kt + W[t]) & _M64
        t2 = ((_rotr(a, 28) ^ _rotr(a, 34) ^ _rotr(a, 39)) + ((a & b) ^ (a & c) ^ (b & c))) & _M64
        hh, g, f, e, d, c, b, a = g, f, e, (d + t1) & _M64, c, b, a, (t1 + t2) & _M64
    for i, v in enumerate((a, b, c, d, e, f, g, hh)):
        x = (H[i] + v) & _M64
        j = 8 * i
        hi = x >> 32
        lo = x & 0xFFFFFFFF
        h[j : j + 4] = hi.to_bytes(4, "little")
        h[j + 4 : j + 8] = lo.to_bytes(4, "little")
