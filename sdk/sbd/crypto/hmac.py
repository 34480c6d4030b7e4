# HMAC-SHA256 (RFC 2104) on hashlib.sha256.
#
# MicroPython's sha256 objects have no copy(), so the inner and outer
# midstates cannot be saved; instead the key is padded once into the two
# 64-byte blocks (ipad, opad) and those are kept by HmacSha256 for reuse.
#
# Keys, messages and tags must be bytes, bytearray or a memoryview of bytes
# (sbd.crypto.require_bytes, TypeError otherwise, on both runtimes).
from micropython import const
import hashlib

from sbd.crypto import BadMAC, require_bytes
from sbd.crypto._ct import ct_or  # the compare loop, selected now rather than mid-verify

BLOCK_SIZE = const(64)
DIGEST_SIZE = const(32)
_MIN_TAG = const(16)  # shortest truncated tag verify() accepts (128 bits)


def key_pads(key):
    """The two 64-byte HMAC-SHA256 blocks (key ^ ipad, key ^ opad), for
    sbd.crypto's modules that stream HMAC into their own hash objects."""
    require_bytes(key)
    if len(key) > BLOCK_SIZE:
        key = hashlib.sha256(key).digest()
    k = bytearray(BLOCK_SIZE)
    k[: len(key)] = key
    ipad = bytearray(BLOCK_SIZE)
    opad = bytearray(BLOCK_SIZE)
    for i in range(BLOCK_SIZE):  # no XOR tables: 512 B of heap for the whole run
        b = k[i]
        ipad[i] = b ^ 0x36
        opad[i] = b ^ 0x5C
    return bytes(ipad), bytes(opad)


class HmacSha256:
    """An HMAC-SHA256 key, padded once, for many MACs under the same key."""

    def __init__(self, key):
        self._ipad, self._opad = key_pads(key)

    def inner(self):
        """A running inner hash: update() it with the message, then finish()."""
        return hashlib.sha256(self._ipad)

    def finish(self, inner):
        return hashlib.sha256(self._opad + inner.digest()).digest()

    def mac(self, *parts):
        h = hashlib.sha256(self._ipad)
        for p in parts:
            require_bytes(p)
            h.update(p)
        return hashlib.sha256(self._opad + h.digest()).digest()

    def verify(self, tag, *parts):
        """Raise BadMAC unless tag is the MAC of parts (or a prefix of it of
        at least 16 bytes, for truncated tags)."""
        require_bytes(tag)
        n = len(tag)
        if n < _MIN_TAG or n > DIGEST_SIZE:
            raise BadMAC("tag length")
        if ct_or(self.mac(*parts), tag, n):  # the first n bytes of the MAC
            raise BadMAC("tag mismatch")


def hmac_sha256(key, msg):
    require_bytes(msg)
    ipad, opad = key_pads(key)
    inner = hashlib.sha256(ipad)
    inner.update(msg)
    return hashlib.sha256(opad + inner.digest()).digest()


def verify_hmac_sha256(key, msg, tag):
    HmacSha256(key).verify(tag, msg)
