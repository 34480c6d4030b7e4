"""Per-device passwords and their verifiers.

Rules this module enforces (each has a test in tests/host/test_provision_passwords.py):

1. A password comes from the operating system's CSPRNG (`secrets`) alone.
   `generate()` takes no argument, so nothing about the board (serial, MAC,
   unique id), the time or a counter can reach it.
2. It carries at least 80 bits of entropy: GROUPS x GROUP_LEN characters, each
   drawn uniformly from ALPHABET (30 symbols, 4.91 bits each; 20 -> 98.1 bits).
3. The alphabet has no look-alike characters: lower case only (no c/C, s/S
   case confusion), and none of 0 o O, 1 l I i j, so a person can type it from
   a printed label.  Groups are joined by '-', which is part of the password
   (it is typed as printed) but carries no entropy.
4. The verifier is made by the device's own PBKDF2 (sbd.crypto.kdf through
   the shims): one implementation of the format a board checks against.
"""

from __future__ import annotations

import hmac
import importlib
import math
import secrets
from dataclasses import dataclass
from typing import Any

from sbdtools import shims

ALPHABET = "23456789abcdefghkmnpqrstuvwxyz"
GROUPS = 4
GROUP_LEN = 5
SEPARATOR = "-"
LENGTH = GROUPS * GROUP_LEN + (GROUPS - 1) * len(SEPARATOR)  # characters as printed
MIN_ENTROPY_BITS = 80

SALT_SIZE = 16  # bytes; random per verifier, so equal passwords never give equal verifiers
VERIFIER_SIZE = 32  # PBKDF2 output length (one SHA-256 block)
MIN_ITERATIONS = 1000  # below this a verifier is not worth having (docs/provisioning.md)


def entropy_bits(alphabet_size: int = len(ALPHABET), length: int = GROUPS * GROUP_LEN) -> float:
    """Entropy of `length` symbols drawn uniformly and independently from `alphabet_size`."""
    if alphabet_size < 2 or length < 1:
        raise ValueError("alphabet_size must be >= 2 and length >= 1")
    return length * math.log2(alphabet_size)


ENTROPY_BITS = entropy_bits()
if ENTROPY_BITS < MIN_ENTROPY_BITS:  # pragma: no cover - a module constant, checked at import
    raise ImportError("password policy gives fewer than 80 bits")


def generate() -> str:
    """A new random password, e.g. 'k7mp2-xv9ad-3hrte-nq4fw'.  No inputs, by design."""
    groups = ("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LEN)) for _ in range(GROUPS))
    return SEPARATOR.join(groups)


def is_generated_form(password: str) -> bool:
    """True if `password` has the shape generate() produces (not a strength check)."""
    parts = password.split(SEPARATOR)
    return len(parts) == GROUPS and all(len(p) == GROUP_LEN and all(c in ALPHABET for c in p) for p in parts)


@dataclass(frozen=True)
class Verifier:
    """A salted PBKDF2-HMAC-SHA256 verifier: what a board stores instead of the password."""

    salt: bytes
    iterations: int
    key: bytes

    def __repr__(self) -> str:  # no key bytes in logs or tracebacks
        return f"Verifier(salt={len(self.salt)} bytes, iterations={self.iterations}, key={len(self.key)} bytes)"


def _kdf() -> Any:
    shims.install()
    return importlib.import_module("sbd.crypto.kdf")


def _check_iterations(iterations: int) -> None:
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise TypeError("iterations must be an int")
    top = int(_kdf().PBKDF2_MAX_ITERATIONS)
    if not MIN_ITERATIONS <= iterations <= top:
        raise ValueError(f"PBKDF2 iterations must be between {MIN_ITERATIONS} and {top}, not {iterations}")


def verifier(password: str, iterations: int, salt: bytes | None = None) -> Verifier:
    """The verifier a board stores for `password` (UTF-8), with a fresh random
    salt unless one is given (tests and known-answer checks give one)."""
    _check_iterations(iterations)
    if salt is None:
        salt = secrets.token_bytes(SALT_SIZE)
    elif len(salt) < SALT_SIZE:
        raise ValueError(f"salt must be at least {SALT_SIZE} bytes")
    key = bytes(_kdf().pbkdf2_hmac_sha256(password.encode(), bytes(salt), iterations, VERIFIER_SIZE))
    return Verifier(bytes(salt), iterations, key)


def check(v: Verifier, password: str) -> bool:
    """Does `password` match `v`?  Constant-time compare; the host-side mirror of a board's check."""
    _check_iterations(v.iterations)
    got = _kdf().pbkdf2_hmac_sha256(password.encode(), v.salt, v.iterations, len(v.key))
    return hmac.compare_digest(bytes(got), v.key)
