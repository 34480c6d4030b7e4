# The twelve test vectors of "Taming the many EdDSAs" (Chalkias, Garillot,
# Nikolaenko, SSR 2020), with the outcome sbd must give for each, on every
# backend: the Python verifier, and a native sbd_native.ed25519_verify that
# passed the known-answer test.  docs/crypto.md has the same table with the
# reasons.  Also: native backends with another policy are refused, and the
# Python layer still checks A, R and S when a native backend is in use.
#
# Source of the vectors: github.com/novifinancial/ed25519-speccheck,
# cases.txt (the paper's artefact), cases 0-11 in that order, transcribed as
# (expected, A, R || S, message); expected is the exception sbd raises, or
# None for "accepted".  "mixed" = a point with both a small-order and a
# prime-order component.
# sbd-device: heapsize=64K timeout=300
import sys

from dtest import eq, raises, true
from sbd.crypto import BadSignature, CryptoError, MalformedInput
from sbd.crypto import ed25519 as E

TAMING = (
    # 0: S = 0, A and R of small order; both equations hold.  Refused: A has small order (rule 4).
    (
        MalformedInput,
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"
        "0000000000000000000000000000000000000000000000000000000000000000",
        "8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6",
    ),
    # 1: A of small order, R mixed; both hold.  Refused: A has small order.
    (
        MalformedInput,
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43"
        "a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
    ),
    # 2: A mixed, R of small order; both hold.  Accepted: A is not of small order, R's encoding is
    # canonical, the equation holds.
    (
        None,
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"
        "8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e",
        "aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab",
    ),
    # 3: A and R mixed; both hold.  Accepted.
    (
        None,
        "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f"
        "87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009",
        "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
    ),
    # 4: A and R mixed; only the cofactored equation holds.  Accepted (cofactored, rule 5); OpenSSL
    # refuses it.
    (
        None,
        "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed512"
        "5ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09",
        "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
    ),
    # 5: A mixed, R of prime order; only the cofactored equation holds.  Accepted; OpenSSL refuses it.
    (
        None,
        "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7"
        "e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405",
        "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
    ),
    # 6: S >= L (S + L, below 2^253).  Refused: S out of range (rule 2).
    (
        BadSignature,
        "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e"
        "547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514",
        "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
    ),
    # 7: S >= 2^253.  Refused: S out of range.
    (
        BadSignature,
        "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        "8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa1942"
        "7e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22",
        "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
    ),
    # 8: R non-canonical (x = 0 with the sign bit); both equations hold only with R re-encoded before
    # hashing.  Refused: R not canonical (rule 3).
    (
        BadSignature,
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
        "03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f",
        "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
    ),
    # 9: the same R; both equations hold with R hashed as received.  Refused: R not canonical.
    (
        BadSignature,
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
        "ca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908",
        "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
    ),
    # 10: A non-canonical (x = 0 with the sign bit, small order); cofactored holds, cofactorless only
    # with A re-encoded.  Refused: A not canonical.
    (
        MalformedInput,
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dc"
        "a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        "e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b",
    ),
    # 11: the same A; both hold with A hashed as received.  Refused: A not canonical.
    (
        MalformedInput,
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dc"
        "a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        "39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f",
    ),
)


def _outcome(pk, sig, msg, precompute):
    try:
        E.Ed25519PublicKey(pk, precompute=precompute).verify(sig, msg)
    except CryptoError as e:
        return type(e)
    return None


def _check_all(what):
    for i, (want, pk, sig, msg) in enumerate(TAMING):
        pk = bytes.fromhex(pk)
        sig = bytes.fromhex(sig)
        msg = bytes.fromhex(msg)
        for pre in (False, True):
            eq(_outcome(pk, sig, msg, pre), want, "%s case %d precompute=%s" % (what, i, pre))


def test_taming_cases_python():
    eq(E.BACKEND, "python")
    _check_all("python")


def _honest(pk, sig, msg):
    # Stands in for a C verifier of sbd's policy: the Python path, bypassing
    # the native hook (which would call back here).
    inner = E._native
    E._native = None
    try:
        E.Ed25519PublicKey(pk).verify(sig, msg)
        return True
    except CryptoError:
        return False
    finally:
        E._native = inner


class _Native:
    # A fake sbd_native module: verdict(pk, sig, msg) -> True/False.
    def __init__(self, verdict):
        self.ed25519_verify = verdict


def _with_native(verdict, body):
    saved = sys.modules.get("sbd_native")
    try:
        sys.modules["sbd_native"] = _Native(verdict)
        return body()
    finally:
        if saved is None:
            sys.modules.pop("sbd_native", None)
        else:
            sys.modules["sbd_native"] = saved
        true(E.use("python"))


def test_taming_cases_native():
    def body():
        true(E.use("native"), "a verifier of sbd's policy is taken")
        eq(E.BACKEND, "native")
        _check_all("native")

    _with_native(_honest, body)
    eq(E.BACKEND, "python")


def test_native_with_another_policy_refused():
    # For each Taming case, a verifier that agrees with sbd everywhere but
    # there (cofactorless on 4 and 5, lax on small-order keys, S, or
    # encodings...) fails the known-answer test and is not used.
    for i in range(len(TAMING)):
        _, pk, sig, msg = TAMING[i]
        pk = bytes.fromhex(pk)
        sig = bytes.fromhex(sig)
        msg = bytes.fromhex(msg)

        def other(p, s, m, pk=pk, sig=sig, msg=msg):
            v = _honest(p, s, m)
            return (not v) if (p == pk and s == sig and m == msg) else v

        _with_native(other, lambda i=i: true(not E.use("native"), "case %d: another policy is refused" % i))
        eq(E.BACKEND, "python", "case %d" % i)


def test_native_lax_everywhere_refused():
    # Cofactorless (OpenSSL's choice) or accepting small-order keys: refused.
    cof_pk = bytes.fromhex("c59326c2e66e4df141ab01d2e114274ae1fcb843f5c1a86ea942bbc6159a22b3")

    def cofactorless(p, s, m):
        return False if p == cof_pk else _honest(p, s, m)

    def small_order_ok(p, s, m):
        return True if p in (bytes.fromhex(TAMING[0][1]), bytes.fromhex(TAMING[10][1])) else _honest(p, s, m)

    for f in (cofactorless, small_order_ok, lambda p, s, m: True, lambda p, s, m: 1):
        _with_native(f, lambda: true(not E.use("native"), "refused"))
        eq(E.BACKEND, "python")


# A key of small order (the identity), and RFC 8032 TEST 3's key and signature.
_IDENTITY = "0100000000000000000000000000000000000000000000000000000000000000"
_PK3 = "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025"
_SIG3 = (
    "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
    "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
)


def test_python_layer_checks_with_a_lying_native():
    # A native that passed the known-answer test and then accepts anything:
    # only the group equation is its to decide.  Small-order or
    # non-canonical keys, S >= L and non-canonical R are still refused by
    # the Python layer (before, a native backend skipped all of them).
    state = {"lie": False}

    def liar(p, s, m):
        return True if state["lie"] else _honest(p, s, m)

    def body():
        true(E.use("native"))
        state["lie"] = True
        pk = bytes.fromhex(_PK3)
        sig = bytes.fromhex(_SIG3)
        msg = b"\xaf\x82"
        E.verify(pk, sig, msg)
        for pre in (False, True):
            raises(MalformedInput, E.Ed25519PublicKey, bytes.fromhex(_IDENTITY), pre)
            raises(MalformedInput, E.Ed25519PublicKey, bytes.fromhex(TAMING[0][1]), pre)
            raises(MalformedInput, E.Ed25519PublicKey, bytes.fromhex(TAMING[10][1]), pre)
            key = E.Ed25519PublicKey(pk, pre)
            s = int.from_bytes(sig[32:], "little")
            raises(BadSignature, key.verify, sig[:32] + (s + E.L).to_bytes(32, "little"), msg)
            raises(BadSignature, key.verify, (E.P + 1).to_bytes(32, "little") + sig[32:], msg)
            raises(BadSignature, key.verify, bytes.fromhex(TAMING[9][2]), msg)
            raises(BadSignature, key.verify, sig[:63], msg)
        _check_all("lying native")  # every Taming case is decided before the equation, or valid

    _with_native(liar, body)


def test_native_answer_must_be_true():
    # After selection, anything but exactly True from the native is a failure.
    state = {"fake": False, "answer": True}

    def odd(p, s, m):
        return state["answer"] if state["fake"] else _honest(p, s, m)

    def body():
        true(E.use("native"))
        state["fake"] = True
        pk = bytes.fromhex(_PK3)
        sig = bytes.fromhex(_SIG3)
        for answer in (1, "yes", b"\x01", None, 0, False):
            state["answer"] = answer
            raises(BadSignature, E.verify, pk, sig, b"\xaf\x82")
        state["answer"] = True
        E.verify(pk, sig, b"\xaf\x82")

    _with_native(odd, body)


def test_kat_vectors_dropped_after_selection():
    # The known-answer vectors (~7.5 KB live on the unix port) are loaded for
    # a selection only, never kept beside the verifier.
    import sbd.crypto

    true(E.use("python"))
    true("sbd.crypto._ed25519_kat" not in sys.modules, "dropped from sys.modules")
    true("_ed25519_kat" not in dir(sbd.crypto), "dropped from the package")
