# Authenticated encryption for data at rest: AES-256-CBC + HMAC-SHA256,
# encrypt-then-MAC, with a versioned header, a random IV and associated data.
#
# Record layout (version 1), all lengths in bytes:
#   0   2   header: VERSION (0x01), SUITE (0x01 = AES-256-CBC / HMAC-SHA256)
#   2   16  IV, random for every record
#   18  c   ciphertext: AES-256-CBC(enc_key, IV, PKCS#7(plaintext)), c = 16*k, k >= 1
#   ..  32  tag = HMAC-SHA256(mac_key, AD || header || IV || ciphertext || AL)
# AL is the bit length of AD as a 64-bit big-endian integer, so AD and the
# record can never be re-split into another valid pair (the same construction
# as draft-mcgrew-aead-aes-cbc-hmac-sha2).
#
# Keys: the caller's 32-byte key is never used directly.  Two independent
# keys come from HKDF-SHA256(ikm=key, salt="", info="sbd aead v1" || context),
# 64 bytes = enc_key || mac_key, so the cipher and the MAC never share a key
# and records made for one context (e.g. b"creds") do not open in another.
#
# Rules decrypt() enforces, in this order:
#   0. record and AD are bytes, bytearray or a memoryview of bytes (else
#      TypeError, on both runtimes: a str AD is never hashed as UTF-8 with
#      its length counted in characters); encrypt() and Aead() check the same;
#   1. the record has the v1 header and a possible length (else MalformedInput);
#   2. the tag matches, compared in constant time (else BadMAC), before any
#      byte is decrypted: unauthenticated plaintext is never produced;
#   3. the PKCS#7 padding is well formed (else MalformedInput; with a valid
#      tag this can only be a record made by a faulty encryptor).
from micropython import const
import cryptolib
import hashlib

from sbd.crypto import BadMAC, MalformedInput, random_bytes, require_bytes
from sbd.crypto._ct import ct_or  # the compare loop, selected now rather than mid-decrypt
from sbd.crypto.hmac import key_pads
from sbd.crypto.hkdf import hkdf

VERSION = const(1)
SUITE = const(1)
HEADER = b"\x01\x01"
KEY_SIZE = const(32)
IV_SIZE = const(16)
TAG_SIZE = const(32)
_HDR = const(2)
_BLOCK = const(16)
_MODE_CBC = const(2)
_PREFIX = const(18)  # header + IV
MIN_RECORD = const(66)  # header + IV + one block + tag
MAX_AD = const(0x10000000)  # bounds AL; far beyond any record sbd makes


# PKCS#7 padding strings, p bytes of value p for p = 1..16, back to back:
# padding p starts at offset p * (p - 1) / 2.
_PADS = bytes(p for p in range(1, _BLOCK + 1) for _ in range(p))
_AL0 = bytes(8)  # AL for empty AD
_sha256 = hashlib.sha256
_aes = cryptolib.aes


def unpad_len(last):
    """The PKCS#7 padding length of a decrypted last block, or MalformedInput.

    Only ever applied to authenticated data (after the tag check), so its
    timing is no padding oracle."""
    pad = last[_BLOCK - 1]
    if pad < 1 or pad > _BLOCK:
        raise MalformedInput("AEAD padding")
    o = (pad * (pad - 1)) >> 1
    if bytes(last[_BLOCK - pad : _BLOCK]) != _PADS[o : o + pad]:
        raise MalformedInput("AEAD padding")
    return pad


def record_size(n):
    """Length of the record that encrypt() makes for n bytes of plaintext."""
    return _PREFIX + (n // _BLOCK + 1) * _BLOCK + TAG_SIZE


class Aead:
    """AEAD under one 32-byte key (derivation and MAC pads done once)."""

    def __init__(self, key, context=b""):
        require_bytes(key, context)
        if len(key) != KEY_SIZE:
            raise MalformedInput("AEAD key must be 32 bytes")
        km = hkdf(key, b"", b"sbd aead v1" + context, 64)
        self._enc = km[:32]
        self._ipad, self._opad = key_pads(km[32:])

    def _tag(self, ad, body):
        # HMAC(mac_key, AD || body || AL), the message streamed into the
        # inner hash straight from the caller's buffers.
        h = _sha256(self._ipad)
        if ad:
            h.update(ad)
            h.update(body)
            h.update((len(ad) * 8).to_bytes(8, "big"))
        else:
            h.update(body)
            h.update(_AL0)
        return _sha256(self._opad + h.digest()).digest()

    def encrypt(self, plaintext, ad=b"", iv=None):
        """Return the record (a bytearray) for plaintext and associated data ad.

        iv is for known-answer tests only: leave it None on a device."""
        require_bytes(plaintext, ad)
        if len(ad) > MAX_AD:
            raise MalformedInput("AD too long")
        if iv is None:
            iv = random_bytes(IV_SIZE)
        else:
            require_bytes(iv)
            if len(iv) != IV_SIZE:
                raise MalformedInput("IV must be 16 bytes")
        n = len(plaintext)
        pad = _BLOCK - n % _BLOCK
        end = _PREFIX + n
        body_end = end + pad
        # One allocation: header, IV, then plaintext and PKCS#7 padding copied
        # into place and encrypted there in a single cryptolib call.
        out = bytearray(body_end + TAG_SIZE)
        out[0] = VERSION
        out[1] = SUITE
        out[_HDR:_PREFIX] = iv
        out[_PREFIX:end] = plaintext
        o = (pad * (pad - 1)) >> 1
        out[end:body_end] = _PADS[o : o + pad]
        mv = memoryview(out)
        body = mv[_PREFIX:body_end]
        _aes(self._enc, _MODE_CBC, iv).encrypt(body, body)
        out[body_end:] = self._tag(ad, mv[:body_end])
        return out

    def decrypt(self, record, ad=b""):
        """Return the plaintext (a bytearray) of record, or raise BadMAC /
        MalformedInput.  Nothing is decrypted before the tag is checked."""
        require_bytes(record, ad)
        size = len(record)
        if size < MIN_RECORD or (size - _PREFIX - TAG_SIZE) % _BLOCK:
            raise MalformedInput("AEAD record length")
        if len(ad) > MAX_AD:
            raise MalformedInput("AD too long")
        mv = memoryview(record)
        if mv[0] != VERSION or mv[1] != SUITE:
            raise MalformedInput("unsupported AEAD record version")
        body_end = size - TAG_SIZE
        if ct_or(self._tag(ad, mv[:body_end]), mv[body_end:], TAG_SIZE):
            raise BadMAC("AEAD tag mismatch")
        # Authentic: decrypt the whole body in one call straight into the
        # output buffer, check the padding, then shorten the buffer in place
        # (no copy; at most 16 bytes of its allocation go unused).
        n = body_end - _PREFIX
        out = bytearray(n)
        _aes(self._enc, _MODE_CBC, mv[_HDR:_PREFIX]).decrypt(mv[_PREFIX:body_end], out)
        out[n - unpad_len(out[n - _BLOCK :]) :] = b""
        return out


def encrypt(key, plaintext, ad=b"", context=b""):
    return Aead(key, context).encrypt(plaintext, ad)


def decrypt(key, record, ad=b"", context=b""):
    return Aead(key, context).decrypt(record, ad)
