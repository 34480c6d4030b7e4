# AES-CBC (cryptolib) on every Wycheproof AES-CBC-PKCS5 case, and the sbd
# AEAD record format: known answer, round trips, tampering, limits.
# sbd-device: heapsize=64K timeout=120
import cryptolib
from crypto_vectors import cases
from dtest import eq, raises, true
from sbd.crypto import BadMAC, CryptoError, MalformedInput, aead


def _cbc_decrypt(key, iv, ct):
    # What AEAD does after the tag check: CBC decrypt, then strict PKCS#7.
    if not ct or len(ct) % 16:
        raise MalformedInput("length")
    pt = cryptolib.aes(key, 2, iv).decrypt(ct)
    return pt[: len(pt) - aead.unpad_len(pt[-16:])]


def test_aes_cbc_wycheproof():
    # Every case, 128/192/256-bit keys.  "invalid" cases are bad or missing
    # padding, which the strict unpadding must reject; in an AEAD record this
    # check only ever runs after the MAC (no padding oracle).
    # MicroPython's cryptolib has no AES-192 (ValueError "key"); sbd only
    # uses AES-256, so 192-bit cases check that refusal instead.
    n = 0
    for tc, result, key, iv, msg, ct in cases("aes_cbc_pkcs5.txt", "hhhh"):
        if len(key) == 24:
            raises(ValueError, cryptolib.aes, key, 2, iv)
        elif result == "valid":
            pad = 16 - len(msg) % 16
            got = cryptolib.aes(key, 2, iv).encrypt(msg + bytes((pad,)) * pad)
            eq(got, ct, "tcId %d encrypt" % tc)
            eq(_cbc_decrypt(key, iv, ct), msg, "tcId %d decrypt" % tc)
        else:
            raises(MalformedInput, _cbc_decrypt, key, iv, ct)
        n += 1
    eq(n, 216, "case count")


# Made independently with pyca/cryptography (HKDF, AES-CBC, PKCS7, HMAC):
# key 00..1f, context b"creds", IV 10..1f, AD b"record-7".
_KAT = (
    "0101101112131415161718191a1b1c1d1e1ffe3f7642d2c4d09588acbef5771d94c075dbedaec22a0e664f35ac00"
    "d4ba037888d376404d2a9d04de39e71942362985bcae54a4bdd27136b8c77271f8f3c9fd"
)


def test_aead_known_answer():
    a = aead.Aead(bytes(range(32)), b"creds")
    rec = a.encrypt(b"sbd aead known answer", b"record-7", iv=bytes(range(16, 32)))
    eq(bytes(rec).hex(), _KAT)
    eq(a.decrypt(bytes.fromhex(_KAT), b"record-7"), b"sbd aead known answer")


def test_aead_round_trips():
    a = aead.Aead(bytes(32))
    for n in (0, 1, 15, 16, 17, 31, 32, 33, 64, 100, 1000):
        pt = bytes((i * 7) & 255 for i in range(n))
        for ad in (b"", b"x", bytes(70)):
            rec = a.encrypt(pt, ad)
            eq(len(rec), aead.record_size(n), "size")
            eq(a.decrypt(rec, ad), pt, "n=%d" % n)
    eq(aead.decrypt(bytes(32), aead.encrypt(bytes(32), b"hi", b"ad"), b"ad"), b"hi")


def test_aead_random_iv():
    a = aead.Aead(bytes(32))
    true(a.encrypt(b"same") != a.encrypt(b"same"), "records differ")


def test_aead_every_bit_flip_rejected():
    a = aead.Aead(bytes(range(32)))
    ad = b"ad!"
    rec = a.encrypt(b"0123456789abcdef-", ad)
    for i in range(len(rec) * 8):
        bad = bytearray(rec)
        bad[i >> 3] ^= 1 << (i & 7)
        e = raises(CryptoError, a.decrypt, bad, ad)
        # header bits: unsupported version; anything else: the tag
        true(isinstance(e, MalformedInput if i < 16 else BadMAC), "bit %d: %r" % (i, e))
    for i in range(len(ad) * 8):
        bad_ad = bytearray(ad)
        bad_ad[i >> 3] ^= 1 << (i & 7)
        raises(BadMAC, a.decrypt, rec, bad_ad)


def test_aead_key_and_context_separation():
    rec = aead.Aead(bytes(32), b"creds").encrypt(b"secret")
    raises(BadMAC, aead.Aead(bytes(32), b"telemetry").decrypt, rec)
    raises(BadMAC, aead.Aead(b"\x01" + bytes(31), b"creds").decrypt, rec)


def test_aead_ad_is_not_resplittable():
    # (AD="ab", record) must not open as (AD="a", ...): AL binds the split.
    a = aead.Aead(bytes(32))
    rec = a.encrypt(b"m", b"ab")
    raises(BadMAC, a.decrypt, rec, b"a")
    raises(BadMAC, a.decrypt, rec, b"ab\x00")


def test_aead_malformed():
    a = aead.Aead(bytes(32))
    rec = a.encrypt(b"m")
    raises(MalformedInput, aead.Aead, bytes(31))
    raises(MalformedInput, a.decrypt, rec[:-1])
    raises(MalformedInput, a.decrypt, rec[: aead.MIN_RECORD - 1])
    raises(MalformedInput, a.decrypt, b"")
    raises(MalformedInput, a.encrypt, b"m", b"", b"short iv")


def test_aead_bad_padding_under_valid_tag():
    # Only a faulty encryptor can make these (the tag is valid): decrypt must
    # still refuse them, after the tag check, with MalformedInput.
    a = aead.Aead(bytes(32))
    iv = bytes(16)
    for last in (bytes(16), bytes(15) + b"\x11", bytes(14) + b"\x01\x02", b"\x03" * 15 + b"\x10"):
        body = b"\x01\x01" + iv + cryptolib.aes(a._enc, 2, iv).encrypt(b"x" * 16 + last)
        raises(MalformedInput, a.decrypt, body + a._tag(b"", body))
    body = b"\x01\x01" + iv + cryptolib.aes(a._enc, 2, iv).encrypt(b"x" * 16 + b"\x02" * 16)
    eq(a.decrypt(body + a._tag(b"", body)), b"x" * 16 + b"\x02" * 14, "valid padding 2")
