# SHA-512 backends: each one this runtime has, on FIPS 180-4 examples and on
# lengths around every padding boundary, in one call and in pieces.
# sbd-device: heapsize=64K timeout=120
from dtest import eq, true
from sbd.crypto import sha512 as S

_ABC = (
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
)
_EMPTY = (
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)
_TWO_BLOCK = (  # FIPS 180-4 example, 896-bit message
    "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
    "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"
)
_MSG2 = (
    b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
)


def _backends():
    default = S.BACKEND
    for name in ("hashlib", "native", "viper", "portable"):
        if S.use(name):
            yield name
    S.use(default)


def test_backends_known_answers():
    tried = []
    for name in _backends():
        tried.append(name)
        eq(S.digest(b"abc").hex(), _ABC, name + " abc")
        eq(S.digest(b"").hex(), _EMPTY, name + " empty")
        eq(S.digest(_MSG2).hex(), _TWO_BLOCK, name + " two blocks")
    true("viper" in tried and "portable" in tried, "viper and portable both tested: %r" % tried)


def test_backends_agree_on_every_boundary():
    data = bytes(i & 0xFF for i in range(300))
    ref = {}
    for name in _backends():
        for n in (0, 1, 111, 112, 113, 127, 128, 129, 239, 240, 255, 256, 257, 300):
            h = S.sha512(data[: n // 3])
            h.update(data[n // 3 : n // 2])
            h.update(data[n // 2 : n])
            d = h.digest()
            eq(d, S.digest(data[:n]), "%s pieces n=%d" % (name, n))
            if n in ref:
                eq(d, ref[n], "%s vs first backend n=%d" % (name, n))
            else:
                ref[n] = d


def test_digest_does_not_finalize():
    h = S.sha512(b"ab")
    h.digest()
    h.update(b"c")
    eq(h.digest().hex(), _ABC)
