# Ed25519 verification: RFC 8032 section 7.1 vectors, strictness, the
# cofactored equation and the native plug-in paths.  Every Wycheproof case:
# test_crypto_ed25519_wycheproof.py (a module of its own, so the vectors and
# these constants never share a 64 KiB heap).
# sbd-device: heapsize=64K timeout=300
import sys

from dtest import eq, raises, true
from sbd.crypto import BadSignature, CryptoError, MalformedInput, sha512
from sbd.crypto import ed25519 as E

# RFC 8032 7.1: TEST 1, 2, 3 and TEST SHA(abc).  (TEST 1024 is Wycheproof tcId 83.)
_RFC8032 = (
    (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
)


def test_rfc8032():
    for pk, msg, sig in _RFC8032:
        pk = bytes.fromhex(pk)
        msg = bytes.fromhex(msg)
        sig = bytes.fromhex(sig)
        E.verify(pk, sig, msg)
        E.Ed25519PublicKey(pk, precompute=True).verify(sig, msg)
        raises(BadSignature, E.verify, pk, sig, msg + b"\x00")


def test_strict_lengths():
    pk, msg, sig = (bytes.fromhex(x) for x in _RFC8032[1])
    raises(BadSignature, E.verify, pk, sig[:63], msg)
    raises(BadSignature, E.verify, pk, sig + b"\x00", msg)
    raises(BadSignature, E.verify, pk, b"", msg)
    raises(MalformedInput, E.verify, pk[:31], sig, msg)
    raises(MalformedInput, E.verify, pk + b"\x00", sig, msg)


def test_strict_s_range():
    pk, msg, sig = (bytes.fromhex(x) for x in _RFC8032[1])
    s = int.from_bytes(sig[32:], "little")
    for bad in (s + E.L, s + 2 * E.L, E.L, (1 << 256) - 1):
        if bad < (1 << 256):
            raises(BadSignature, E.verify, pk, sig[:32] + bad.to_bytes(32, "little"), msg)


# Encodings of small-order points (order 1, 2, 4, 8) and non-canonical ones.
_SMALL_ORDER = (
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # (0, -1), order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # (.., 0), order 4
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
)
_NON_CANONICAL = (
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1
    "0100000000000000000000000000000000000000000000000000000000000080",  # x = 0 with sign bit ("-0")
    "0200000000000000000000000000000000000000000000000000000000000000",  # y = 2: no x exists
)


def test_public_key_rules():
    for h in _SMALL_ORDER:
        e = raises(MalformedInput, E.Ed25519PublicKey, bytes.fromhex(h))
        true("small order" in str(e) or "canonical" in str(e), h)
    for h in _NON_CANONICAL:
        raises(MalformedInput, E.Ed25519PublicKey, bytes.fromhex(h))


def test_non_canonical_r_rejected():
    pk, msg, sig = (bytes.fromhex(x) for x in _RFC8032[1])
    key = E.Ed25519PublicKey(pk)
    for h in _NON_CANONICAL:
        raises(BadSignature, key.verify, bytes.fromhex(h) + sig[32:], msg)


# Made on the host by the signer (who alone can): R = [r]B + T8 with T8 of
# order 8, S = r + k*a.  [8][S]B = [8]R + [8][k]A holds, [S]B = R + [k]A does
# not.  sbd (cofactored, RFC 8032's equation) accepts it; OpenSSL and so
# pyca/cryptography (cofactorless) reject it.  tests/host/test_crypto_props.py
# checks the OpenSSL half.
COFACTOR_PK = "c59326c2e66e4df141ab01d2e114274ae1fcb843f5c1a86ea942bbc6159a22b3"
COFACTOR_SIG = (
    "696d1a1088671d4dc422d6d3d1d50ef86848c25ca35622e3c8aa428c5a6199b9"
    "54c360cb229d1466ed7dae4146af469d4f09f0fd3b22308c828b0c7ede193a01"
)
COFACTOR_MSG = b"cofactored"


def test_cofactored_equation():
    pk = bytes.fromhex(COFACTOR_PK)
    sig = bytes.fromhex(COFACTOR_SIG)
    E.verify(pk, sig, COFACTOR_MSG)
    E.Ed25519PublicKey(pk, precompute=True).verify(sig, COFACTOR_MSG)
    raises(BadSignature, E.verify, pk, sig, COFACTOR_MSG + b"!")


def test_every_bit_flip_rejected():
    pk, msg, sig = (bytes.fromhex(x) for x in _RFC8032[2])
    key = E.Ed25519PublicKey(pk, precompute=True)
    for i in range(512):
        bad = bytearray(sig)
        bad[i >> 3] ^= 1 << (i & 7)
        raises(BadSignature, key.verify, bad, msg)
    for i in range(256):
        bad = bytearray(pk)
        bad[i >> 3] ^= 1 << (i & 7)
        raises(CryptoError, E.verify, bytes(bad), sig, msg)


class _FakeNative:
    pass


def test_native_plug_in():
    # A native verifier is used only after the same known-answer test.
    saved = sys.modules.get("sbd_native")
    try:
        liar = _FakeNative()
        liar.ed25519_verify = lambda pk, sig, msg: True
        sys.modules["sbd_native"] = liar
        true(not E.use("native"), "a verifier that accepts everything is refused")
        eq(E.BACKEND, "python")
        honest = _FakeNative()

        def ok(pk, sig, msg):
            # stands in for a C verifier: the Python path, bypassing the hook
            inner = E._native
            E._native = None
            try:
                E.Ed25519PublicKey(pk).verify(sig, msg)
                return True
            except CryptoError:
                return False
            finally:
                E._native = inner

        honest.ed25519_verify = ok
        sys.modules["sbd_native"] = honest
        true(E.use("native"), "a correct verifier is taken")
        eq(E.BACKEND, "native")
        test_rfc8032()
        raises(BadSignature, E.verify, bytes.fromhex(COFACTOR_PK), bytes(64), b"")
    finally:
        if saved is None:
            sys.modules.pop("sbd_native", None)
        else:
            sys.modules["sbd_native"] = saved
        true(E.use("python"))
    eq(E.BACKEND, "python")


def test_sha512_native_plug_in():
    saved = sys.modules.get("sbd_native")
    default = sha512.BACKEND
    try:
        true(sha512.use("viper"))  # _Sha512 runs on the compression function selected
        fake = _FakeNative()
        fake.sha512 = sha512._Sha512
        sys.modules["sbd_native"] = fake
        true(sha512.use("native"), "a correct native SHA-512 is taken")
        eq(sha512.BACKEND, "native")
        fake.sha512 = lambda data=b"": sha512._Sha512(data + b"x")
        true(not sha512.use("native"), "a wrong one is refused")
    finally:
        if saved is None:
            sys.modules.pop("sbd_native", None)
        else:
            sys.modules["sbd_native"] = saved
        sha512.use(default)
