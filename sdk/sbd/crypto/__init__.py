# sbd.crypto: the primitives every other sbd module rests on.
#
# This package file is kept small on purpose: it holds only what every user
# needs (the exception tree, the type rule every public function applies,
# constant-time compare, the CSPRNG).  Each
# primitive lives in its own module and is imported on its own, so an app that
# only needs HMAC never pays RAM for Ed25519:
#   sbd.crypto.sha256   streaming SHA-256 over streams and files
#   sbd.crypto.hmac     HMAC-SHA256 (RFC 2104)
#   sbd.crypto.kdf      HKDF-SHA256 (RFC 5869), PBKDF2-HMAC-SHA256 (RFC 8018)
#   sbd.crypto.aead     AES-256-CBC + HMAC-SHA256 encrypt-then-MAC records
#   sbd.crypto.sha512   SHA-512 (native, viper or portable, chosen by self-test)
#   sbd.crypto.ed25519  Ed25519 verification (RFC 8032), strict
# Verify-only: no private key is ever handled on a device.
import os


class CryptoError(Exception):
    """Base of every error raised by sbd.crypto."""


class BadSignature(CryptoError):
    """A signature did not verify (or could not be parsed)."""


class BadMAC(CryptoError):
    """An authentication tag did not match: the data was altered or the key is wrong."""


class MalformedInput(CryptoError):
    """Input of the wrong length, range or format, rejected before any work."""


_ct_or = None  # the compare loop, from sbd.crypto._ct (viper after its self-test)


def require_bytes(a, b=b"", c=b"", d=b"", _is=isinstance, _types=(bytes, bytearray)):
    """Raise TypeError unless each of a, b, c, d is bytes, a bytearray or a
    memoryview of single bytes: the only data sbd.crypto reads.

    Every public sbd.crypto function calls this once on its data arguments,
    so a str, an int, an array or a memoryview of wider items is refused the
    same way on MicroPython (which would hash a str's UTF-8 and count a
    memoryview's items) and on CPython.  bytes and bytearray pass without
    allocating.  _is and _types are not arguments: bound once as defaults,
    they spare eight dict lookups per call (0.22 us instead of 0.79 us over
    an empty call on the unix port).  No helper globals: in a 64 KiB heap a
    module's every extra global can cost a step of its dict."""
    if _is(a, _types) and _is(b, _types) and _is(c, _types) and _is(d, _types):
        return
    for x in (a, b, c, d):
        if _is(x, _types):
            continue
        # A memoryview whose items are single bytes; an empty one is empty
        # data whatever its items.  MicroPython's memoryview has no itemsize,
        # so the first item is copied out and measured (a few bytes, only for
        # a memoryview argument); CPython runs the same test.
        if _is(x, memoryview) and (not x or len(bytes(x[:1])) == 1):
            continue
        raise TypeError("sbd.crypto takes bytes, bytearray or a memoryview of bytes")


def ct_equal(a, b):
    """Compare two byte strings in time that depends only on their lengths.

    TypeError unless both are bytes-like with byte items (require_bytes).
    Different lengths compare unequal at once (lengths are not secret here:
    tags and digests have fixed, public sizes)."""
    global _ct_or
    require_bytes(a, b)
    n = len(a)
    if n != len(b):
        return False
    if _ct_or is None:  # first use: load the loop (not in RAM for verify-only apps)
        from sbd.crypto._ct import ct_or

        _ct_or = ct_or
    return _ct_or(a, b, n) == 0


def random_bytes(n):
    """n bytes from the platform CSPRNG (the one place sbd reads it).

    On the ESP32 os.urandom is the hardware RNG (true random only while the
    radio or the bootloader entropy source is on); on the RP2040 it is the
    ring oscillator, which is why the device root key also mixes in host
    entropy (see DESIGN.md)."""
    if n < 0:
        raise MalformedInput("negative length")
    return os.urandom(n)
