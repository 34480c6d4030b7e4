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
#   1. the record has the v1 header and a possible length (else MalformedInput);
#   2. the tag matches, compared in constant time (else BadMAC), before any
#      byte is decrypted: unauthenticated plaintext is never produced;
#   3. the PKCS#7 padding is well formed (else MalformedInput; with a valid
#      tag this can only be a record made by a faulty encryptor).
from micropython import const
import cryptolib
import hashlib

from sbd.crypto import BadMAC, MalformedInput, ct_equal, random_bytes
from sbd.crypto.hmac import _pads
from sbd.crypto.kdf import hkdf

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


def unpad_len(last):
    """The PKCS#7 padding length of a decrypted last block, or MalformedInput.

    Only ever applied to authenticated data (after the tag check), so its
    timing is no padding oracle."""
    pad = last[_BLOCK - 1]
    if pad < 1 or pad > _BLOCK:
        raise MalformedInput("AEAD padding")
    for i in range(_BLOCK - pad, _BLOCK):
        if last[i] != pad:
            raise MalformedInput("AEAD padding")
    return pad


def record_size(n):
    """Length of the record that encrypt() makes for n bytes of plaintext."""
    return _PREFIX + (n // _BLOCK + 1) * _BLOCK + TAG_SIZE


class Aead:
    """AEAD under one 32-byte key (derivation and MAC pads done once)."""

    def __init__(self, key, context=b""):
        if len(key) != KEY_SIZE:
            raise MalformedInput("AEAD key must be 32 bytes")
        km = hkdf(key, b"", b"sbd aead v1" + context, 64)
        self._enc = km[:32]
        self._ipad, self._opad = _pads(km[32:])

    def _tag(self, ad, body):
        h = hashlib.sha256(self._ipad)
        if ad:
            h.update(ad)
        h.update(body)
        h.update((len(ad) * 8).to_bytes(8, "big"))
        return hashlib.sha256(self._opad + h.digest()).digest()

    def encrypt(self, plaintext, ad=b"", iv=None):
        """Return the record (a bytearray) for plaintext and associated data ad.

        iv is for known-answer tests only: leave it None on a device."""
        if len(ad) > MAX_AD:
            raise MalformedInput("AD too long")
        n = len(plaintext)
        full = n - n % _BLOCK
        size = record_size(n)
        out = bytearray(size)
        mv = memoryview(out)
        mv[0:_HDR] = HEADER
        if iv is None:
            iv = random_bytes(IV_SIZE)
        elif len(iv) != IV_SIZE:
            raise MalformedInput("IV must be 16 bytes")
        mv[_HDR:_PREFIX] = iv
        aes = cryptolib.aes(self._enc, _MODE_CBC, iv)
        end = _PREFIX + full
        if full:
            # Whole blocks straight from the caller's buffer: no copy.
            aes.encrypt(memoryview(plaintext)[:full], mv[_PREFIX:end])
        # Last block: the tail of the plaintext and the PKCS#7 padding.
        pad = _BLOCK - (n - full)
        last = bytearray(_BLOCK)
        last[: n - full] = plaintext[full:]
        for i in range(n - full, _BLOCK):
            last[i] = pad
        aes.encrypt(last, mv[end : end + _BLOCK])
        body_end = end + _BLOCK
        mv[body_end:] = self._tag(ad, mv[:body_end])
        return out

    def decrypt(self, record, ad=b""):
        """Return the plaintext (a bytearray) of record, or raise BadMAC /
        MalformedInput.  Nothing is decrypted before the tag is checked."""
        size = len(record)
        if size < MIN_RECORD or (size - _PREFIX - TAG_SIZE) % _BLOCK:
            raise MalformedInput("AEAD record length")
        if len(ad) > MAX_AD:
            raise MalformedInput("AD too long")
        mv = memoryview(record)
        if mv[0] != VERSION or mv[1] != SUITE:
            raise MalformedInput("unsupported AEAD record version")
        body_end = size - TAG_SIZE
        if not ct_equal(self._tag(ad, mv[:body_end]), mv[body_end:]):
            raise BadMAC("AEAD tag mismatch")
        # Authentic.  Decrypt the last block first (CBC: its IV is the block
        # before it) to learn the plaintext length, then the rest straight
        # into an output buffer of exactly that size.
        last_start = body_end - _BLOCK
        last = cryptolib.aes(self._enc, _MODE_CBC, mv[last_start - _BLOCK : last_start]).decrypt(
            mv[last_start:body_end]
        )
        pad = unpad_len(last)
        full = last_start - _PREFIX
        out = bytearray(full + _BLOCK - pad)
        if full:
            cryptolib.aes(self._enc, _MODE_CBC, mv[_HDR:_PREFIX]).decrypt(
                mv[_PREFIX:last_start], memoryview(out)[:full]
            )
        out[full:] = last[: _BLOCK - pad]
        return out


def encrypt(key, plaintext, ad=b"", context=b""):
    return Aead(key, context).encrypt(plaintext, ad)


def decrypt(key, record, ad=b"", context=b""):
    return Aead(key, context).decrypt(record, ad)
