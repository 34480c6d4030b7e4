# One rule for the types sbd.crypto reads, on MicroPython and CPython alike:
# bytes, bytearray or a memoryview of single bytes; anything else (a str, an
# int, an array, a memoryview of wider items) is a TypeError at every public
# entry point.  Before this rule MicroPython hashed a str's UTF-8 (and counted
# an AD's length in characters), ct_equal compared len() items of a wider
# array byte by byte, and CPython's PBKDF2 took password=5 as five zero bytes.
# sbd-device: heapsize=64K timeout=120
from array import array

from dtest import eq, raises, true
from sbd.crypto import ct_equal

# Not data: each must be refused wherever sbd.crypto reads bytes.
_WRONG = ("abc", "\u00e9", 5, array("I", [0, 1]), memoryview(array("I", [0, 1])), [1, 2], array("B", b"ab"))


def test_ct_equal_wide_items_refused():
    # len() counts 2 items of 4 bytes: the old loop compared bytes 0 and 1 only.
    raises(TypeError, ct_equal, array("I", [0, 1]), array("I", [0, 2]))
    raises(TypeError, ct_equal, memoryview(array("I", [0, 1])), memoryview(array("I", [0, 2])))
    raises(TypeError, ct_equal, array("h", [1]), b"\x01\x00")
    raises(TypeError, ct_equal, memoryview(array("H", [7])), b"\x07\x00")


def test_ct_equal_str_refused():
    # MicroPython compared "é" and "è" over len() == 1 of their 2 UTF-8 bytes.
    raises(TypeError, ct_equal, "\u00e9", "\u00e8")
    raises(TypeError, ct_equal, "abc", b"abc")
    raises(TypeError, ct_equal, b"abc", "abc")
    raises(TypeError, ct_equal, 5, 5)


def test_ct_equal_byte_buffers():
    a = bytes(range(40))
    true(ct_equal(a, bytearray(a)))
    true(ct_equal(memoryview(a)[3:9], a[3:9]))
    true(ct_equal(memoryview(bytearray(a))[1:], a[1:]))
    true(not ct_equal(memoryview(a)[3:9], a[4:10]))
    true(ct_equal(memoryview(b""), b""))
    # signed bytes: the same byte values as unsigned ones
    true(ct_equal(memoryview(array("b", [-1, 1])), b"\xff\x01"))
    true(not ct_equal(memoryview(array("b", [-1, 1])), b"\xfe\x01"))
    true(ct_equal(memoryview(array("B", [255, 1])), b"\xff\x01"))


def test_require_bytes():
    from sbd.crypto import require_bytes

    require_bytes(b"")
    require_bytes(b"a", bytearray(2), memoryview(b"xyz")[1:], memoryview(bytearray(3)))
    require_bytes(memoryview(array("b", [1, -1])))
    require_bytes(memoryview(array("I")))  # empty: no data whatever the item size
    for w in _WRONG + (None,):
        raises(TypeError, require_bytes, w)
        raises(TypeError, require_bytes, b"", b"", b"", w)
    e = raises(TypeError, require_bytes, "secret value")
    true("secret" not in str(e), "the value is not echoed")


def _each_wrong(fn, *args):
    # fn(*args) with each bytes argument in turn replaced by each wrong type.
    for i in range(len(args)):
        if not isinstance(args[i], (bytes, bytearray)):
            continue
        for w in _WRONG:
            bad = list(args)
            bad[i] = w
            try:
                fn(*bad)
            except TypeError:
                continue
            raise AssertionError("argument %d of %s took %r" % (i, getattr(fn, "__name__", "call"), w))


def test_hashes():
    from sbd.crypto import sha256, sha512

    _each_wrong(sha256.sha256, b"abc")
    default = sha512.BACKEND
    try:
        for name in ("hashlib", "viper", "portable"):
            if sha512.use(name):
                _each_wrong(sha512.digest, b"abc")
                eq(sha512.digest(memoryview(b"abc")), sha512.digest(b"abc"), name)
    finally:
        sha512.use(default)


def test_hmac():
    from sbd.crypto import hmac as H

    _each_wrong(H.hmac_sha256, b"key", b"msg")
    tag = H.hmac_sha256(b"key", b"msg")
    _each_wrong(H.verify_hmac_sha256, b"key", b"msg", tag)
    _each_wrong(H.HmacSha256, b"key")
    k = H.HmacSha256(b"key")
    _each_wrong(k.mac, b"m", b"sg")
    _each_wrong(k.verify, tag, b"msg")
    eq(H.hmac_sha256(memoryview(b"key"), bytearray(b"msg")), tag)
    k.verify(memoryview(tag), memoryview(b"msg"))


def test_kdf():
    from sbd.crypto import kdf

    _each_wrong(kdf.hkdf, b"ikm", b"salt", b"info", 32)
    _each_wrong(kdf.hkdf_extract, b"salt", b"ikm")
    _each_wrong(kdf.hkdf_expand, bytes(32), b"info", 32)
    _each_wrong(kdf.hkdf, b"ikm", b"", b"", 32)  # an empty str salt or info is no "absent" value
    want = kdf.hkdf(b"ikm", b"salt", b"info", 32)
    eq(kdf.hkdf(memoryview(b"ikm"), bytearray(b"salt"), memoryview(b"info"), 32), want)
    default = kdf.BACKEND
    try:
        for name in ("native", "viper", "portable"):
            if kdf.use(name):
                # The native backend (hashlib.pbkdf2_hmac behind bytes())
                # turned password=5 into five zero bytes.
                _each_wrong(kdf.pbkdf2_hmac_sha256, b"pw", b"salt", 2)
                eq(
                    kdf.pbkdf2_hmac_sha256(memoryview(b"pw"), bytearray(b"salt"), 2),
                    kdf.pbkdf2_hmac_sha256(b"pw", b"salt", 2),
                    name,
                )
    finally:
        kdf.use(default)


def test_aead():
    from sbd.crypto import aead

    key = bytes(32)
    a = aead.Aead(key, b"ctx")
    rec = a.encrypt(b"pt", b"ad")
    _each_wrong(aead.Aead, key, b"ctx")
    _each_wrong(a.encrypt, b"pt", b"ad")
    _each_wrong(a.encrypt, b"pt", b"ad", bytes(16))
    _each_wrong(a.decrypt, rec, b"ad")
    _each_wrong(aead.encrypt, key, b"pt", b"ad", b"ctx")
    _each_wrong(aead.decrypt, key, rec, b"ad", b"ctx")
    # A str AD of 2 characters, 4 UTF-8 bytes: once bound as 16 bits of AL.
    raises(TypeError, a.decrypt, a.encrypt(b"pt", b"\xc3\xa9\xc3\xa8"), "\u00e9\u00e8")
    eq(a.decrypt(memoryview(rec), memoryview(b"ad")), b"pt")
    eq(aead.Aead(memoryview(key), bytearray(b"ctx")).decrypt(bytearray(rec), b"ad"), b"pt")


def test_ed25519():
    from sbd.crypto import ed25519 as E

    pk = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
    sig = bytes.fromhex(
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
    )
    msg = b"\x72"
    _each_wrong(E.verify, pk, sig, msg)
    _each_wrong(E.Ed25519PublicKey, pk)
    key = E.Ed25519PublicKey(memoryview(pk))
    _each_wrong(key.verify, sig, msg)
    key.verify(memoryview(sig), bytearray(msg))
    # A str of 32 or 64 characters is no key or signature either.
    raises(TypeError, E.Ed25519PublicKey, "k" * 32)
    raises(TypeError, key.verify, "s" * 64, msg)
    raises(TypeError, key.verify, sig, "r")


def test_pbkdf2_int_password_refused():
    # CPython's hashlib.pbkdf2_hmac backend once ran bytes(5): five zero bytes.
    from sbd.crypto import kdf

    default = kdf.BACKEND
    try:
        for name in ("native", "viper", "portable"):
            if kdf.use(name):
                raises(TypeError, kdf.pbkdf2_hmac_sha256, 5, b"salt", 1)
                raises(TypeError, kdf.pbkdf2_hmac_sha256, b"pw", 5, 1)
    finally:
        kdf.use(default)


def test_aead_str_ad_refused():
    # MicroPython took a str AD, hashed its UTF-8 and put its length in
    # characters into AL: "\u00e9" (2 bytes) was bound as 8 bits.
    from sbd.crypto import aead

    a = aead.Aead(bytes(32))
    raises(TypeError, a.encrypt, b"pt", "\u00e9")
    raises(TypeError, a.decrypt, a.encrypt(b"pt", b"\xc3\xa9"), "\u00e9")


def _signed(b):
    # The same bytes as a memoryview of format "b" (items -128..127).
    return memoryview(array("b", [v - 256 if v > 127 else v for v in b]))


def test_signed_byte_views_are_their_bytes():
    from sbd.crypto import aead, hmac
    from sbd.crypto import ed25519 as E

    a = aead.Aead(bytes(range(32)))
    rec = bytes(a.encrypt(b"\xff\x80 plaintext", b"\xfe ad"))
    eq(a.decrypt(_signed(rec), _signed(b"\xfe ad")), b"\xff\x80 plaintext")
    tag = hmac.hmac_sha256(b"\xf0key", b"\x99msg")
    eq(hmac.hmac_sha256(_signed(b"\xf0key"), _signed(b"\x99msg")), tag)
    hmac.HmacSha256(b"\xf0key").verify(_signed(tag), b"\x99msg")
    true(ct_equal(_signed(tag), tag))
    pk = bytes.fromhex("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025")
    sig = bytes.fromhex(
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
    )
    E.verify(_signed(pk), _signed(sig), _signed(b"\xaf\x82"))
