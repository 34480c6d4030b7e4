# HKDF-SHA256 (RFC 5869): the key derivation every board-bound key goes
# through (identity's record MAC key, Identity.derive_key, aead's two keys).
#
# Kept apart from PBKDF2 (sbd.crypto.kdf, which re-exports these names) so a
# module that derives keys does not pay RAM for PBKDF2's viper loop.
from micropython import const

from sbd.crypto import MalformedInput, require_bytes
from sbd.crypto.hmac import HmacSha256

HASH_LEN = const(32)
HKDF_MAX_LEN = const(8160)  # 255 * HashLen (RFC 5869 section 2.3)


def hkdf_extract(salt, ikm):
    require_bytes(salt, ikm)
    # 2.2: an absent salt is HashLen zero bytes (HMAC pads it anyway).
    return HmacSha256(salt if salt else bytes(HASH_LEN)).mac(ikm)


def hkdf_expand(prk, info, length):
    require_bytes(prk, info)
    if length < 0 or length > HKDF_MAX_LEN:
        raise MalformedInput("HKDF length")
    if len(prk) < HASH_LEN:
        raise MalformedInput("HKDF PRK too short")
    k = HmacSha256(prk)
    out = bytearray(length)
    t = b""
    pos = 0
    i = 1
    while pos < length:
        h = k.inner()  # 2.3: T(i) = HMAC(PRK, T(i-1) | info | i)
        h.update(t)
        h.update(info)
        h.update(bytes((i,)))
        t = k.finish(h)
        n = min(HASH_LEN, length - pos)
        out[pos : pos + n] = t[:n]
        pos += n
        i += 1
    # The bytearray itself, not a bytes copy: a copy needs a second block of
    # `length` contiguous bytes, which a fragmented 64 KiB heap may not have
    # for long outputs (found by the Wycheproof 8160-byte cases).
    return out


def hkdf(ikm, salt, info, length):
    require_bytes(ikm, salt, info)
    return hkdf_expand(hkdf_extract(salt, ikm), info, length)
