# Known-answer test for an Ed25519 backend (sbd.crypto.ed25519.use).  Kept
# apart from the verifier so its constants and code are loaded only when a
# backend is (re)selected, not held in RAM beside every verify.
#
# RFC 8032 section 7.1 TEST 2 (one-byte message).  A backend must accept it
# and reject it with one bit flipped, with S + L (malleability) and with a
# non-canonical R; only then is it used.
_PK = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
_SIG = (
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
)
_MSG = b"\x72"


def check(verify, L, P):
    """True iff verify(pk, sig, msg) returns exactly True for the known
    answer and exactly False for each corrupted copy of it."""
    try:
        pk = bytes.fromhex(_PK)
        sig = bytes.fromhex(_SIG)
        bad = bytearray(sig)
        bad[5] ^= 0x10
        s_plus_l = sig[:32] + (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little")
        noncanon_r = (P + 1).to_bytes(32, "little") + sig[32:]  # y = p + 1 encodes y = 1 non-canonically
        if verify(pk, sig, _MSG) is not True:
            return False
        for b in (bytes(bad), s_plus_l, noncanon_r):
            if verify(pk, b, _MSG) is not False:
                return False
        return True
    except Exception:  # absent, or faulty on this port: not usable
        return False
