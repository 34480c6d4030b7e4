# HKDF-SHA256 (RFC 5869 + every Wycheproof case) and PBKDF2-HMAC-SHA256
# (every Wycheproof case, each loop backend), on MicroPython and CPython.
# sbd-device: heapsize=64K timeout=300
from crypto_vectors import cases
from dtest import eq, raises, true
from sbd.crypto import MalformedInput, kdf


def test_hkdf_rfc5869():
    # RFC 5869 A.1, A.3 (A.3: empty salt and info)
    okm = kdf.hkdf(b"\x0b" * 22, bytes(range(13)), bytes(range(0xF0, 0xFA)), 42)
    eq(okm.hex(), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    prk = kdf.hkdf_extract(bytes(range(13)), b"\x0b" * 22)
    eq(prk.hex(), "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
    okm = kdf.hkdf(b"\x0b" * 22, b"", b"", 42)
    eq(okm.hex(), "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")


def test_hkdf_wycheproof():
    # Every case; the three "invalid" ones ask for more than 255*32 bytes.
    n = 0
    for tc, result, size, ikm, salt, info, okm in cases("hkdf_sha256.txt", "ihhhh"):
        if result == "valid":
            got = kdf.hkdf(ikm, salt, info, size)
            true(okm == got, "tcId %d" % tc)  # okm may be a Digest (long output)
        else:
            raises(MalformedInput, kdf.hkdf, ikm, salt, info, size)
        n += 1
    eq(n, 86, "case count")


def test_hkdf_limits():
    raises(MalformedInput, kdf.hkdf_expand, bytes(32), b"", -1)
    raises(MalformedInput, kdf.hkdf_expand, bytes(31), b"", 32)
    eq(len(kdf.hkdf_expand(bytes(32), b"", 8160)), 8160)


def _pbkdf2_cases(max_iter):
    for tc, result, it, dklen, pw, salt, dk in cases("pbkdf2_sha256.txt", "iihhh"):
        if it <= max_iter:
            yield tc, result, it, dklen, pw, salt, dk


def test_pbkdf2_wycheproof_all_cases():
    # Every case (all "valid"), with the backend chosen at import.
    n = 0
    for tc, result, it, dklen, pw, salt, dk in _pbkdf2_cases(1 << 30):
        eq(result, "valid")
        eq(kdf.pbkdf2_hmac_sha256(pw, salt, it, dklen), dk, "tcId %d" % tc)
        n += 1
    eq(n, 60, "case count")


def test_pbkdf2_each_backend():
    # Each loop implementation that exists on this runtime, on every case up
    # to 4096 iterations (the 80000-iteration ones would only repeat the loop).
    default = kdf.BACKEND
    tried = []
    try:
        for name in ("native", "viper", "portable"):
            if not kdf.use(name):
                continue
            tried.append(name)
            for tc, result, it, dklen, pw, salt, dk in _pbkdf2_cases(4096):
                eq(kdf.pbkdf2_hmac_sha256(pw, salt, it, dklen), dk, "%s tcId %d" % (name, tc))
    finally:
        kdf.use(default)
    true("viper" in tried and "portable" in tried, "viper and portable both tested: %r" % tried)


def test_pbkdf2_limits():
    raises(MalformedInput, kdf.pbkdf2_hmac_sha256, b"p", b"s", 0)
    raises(MalformedInput, kdf.pbkdf2_hmac_sha256, b"p", b"s", kdf.PBKDF2_MAX_ITERATIONS + 1)
    raises(MalformedInput, kdf.pbkdf2_hmac_sha256, b"p", b"s", 1, 0)
    raises(MalformedInput, kdf.pbkdf2_hmac_sha256, b"p", b"s", 1, kdf.PBKDF2_MAX_LEN + 1)
