# Known-answer test for an Ed25519 backend (sbd.crypto.ed25519.use).  Kept
# apart from the verifier so its constants and code are loaded only when a
# backend is (re)selected, not held in RAM beside every verify.
#
# A backend is used only if it decides every case below exactly as sbd's
# policy does (docs/crypto.md): it must return exactly True for
#   - RFC 8032 section 7.1 TEST 2 (one-byte message);
#   - a signer-made signature whose R carries an order-8 component, which
#     only the cofactored equation accepts (tests/device/test_crypto_ed25519.py);
#   - cases 2-5 of "Taming the many EdDSAs" (below);
# and exactly False for
#   - TEST 2 with one bit flipped, with S + L, and with a non-canonical R;
#   - cases 0, 1 (small-order A), 6, 7 (S >= L), 8, 9 (non-canonical R),
#     10, 11 (non-canonical, small-order A).
# So a cofactorless verifier (OpenSSL), one that takes small-order or
# non-canonical keys, or one that reduces S or R, is refused: the Python
# layer checks A, R and S itself anyway, and this makes sure the backend's
# group equation is sbd's.
#
# The twelve cases: Chalkias, Garillot, Nikolaenko, "Taming the many EdDSAs"
# (SSR 2020), as published in github.com/novifinancial/ed25519-speccheck
# (cases.txt), transcribed in that order: (expected, A, R || S, message).
_CASES = (
    # RFC 8032 7.1 TEST 2
    (
        True,
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        "72",
    ),
    # cofactored only: R = [r]B + T8 (message "cofactored")
    (
        True,
        "c59326c2e66e4df141ab01d2e114274ae1fcb843f5c1a86ea942bbc6159a22b3",
        "696d1a1088671d4dc422d6d3d1d50ef86848c25ca35622e3c8aa428c5a6199b9"
        "54c360cb229d1466ed7dae4146af469d4f09f0fd3b22308c828b0c7ede193a01",
        "636f666163746f726564",
    ),
    # 0
    (
        False,
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"
        "0000000000000000000000000000000000000000000000000000000000000000",
        "8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6",
    ),
    # 1
    (
        False,
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43"
        "a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
    ),
    # 2
    (
        True,
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"
        "8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e",
        "aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab",
    ),
    # 3
    (
        True,
        "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f"
        "87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009",
        "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
    ),
    # 4
    (
        True,
        "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed512"
        "5ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09",
        "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
    ),
    # 5
    (
        True,
        "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7"
        "e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405",
        "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
    ),
    # 6
    (
        False,
        "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e"
        "547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514",
        "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
    ),
    # 7
    (
        False,
        "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        "8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa1942"
        "7e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22",
        "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
    ),
    # 8
    (
        False,
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
        "03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f",
        "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
    ),
    # 9
    (
        False,
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
        "ca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908",
        "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
    ),
    # 10
    (
        False,
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dc"
        "a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        "e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b",
    ),
    # 11
    (
        False,
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dc"
        "a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        "39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f",
    ),
)


def check(verify, L, P):
    """True iff verify(pk, sig, msg) returns exactly True or exactly False,
    as listed above, for every case."""
    try:
        for want, pk, sig, msg in _CASES:
            if verify(bytes.fromhex(pk), bytes.fromhex(sig), bytes.fromhex(msg)) is not want:
                return False
        want, pk, sig, msg = _CASES[0]
        pk = bytes.fromhex(pk)
        sig = bytes.fromhex(sig)
        msg = bytes.fromhex(msg)
        bad = bytearray(sig)
        bad[5] ^= 0x10
        s_plus_l = sig[:32] + (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little")
        noncanon_r = (P + 1).to_bytes(32, "little") + sig[32:]  # y = p + 1 encodes y = 1 non-canonically
        for b in (bytes(bad), s_plus_l, noncanon_r):
            if verify(pk, b, msg) is not False:
                return False
        return True
    except Exception:  # absent, or faulty on this port: not usable
        return False
