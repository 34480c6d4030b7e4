"""Host side of sbd.crypto: Ed25519 keys and signing, AEAD records.

Signing and key generation are host-only work and use `cryptography`.  The
AEAD record format and Ed25519 verification are the device's own modules
(sbd.crypto.aead, sbd.crypto.ed25519) run through the shims, so there is one
implementation of each format.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sbdtools import shims

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
AEAD_KEY_SIZE = 32


def _device(name: str) -> Any:
    """Import a device module sbd.crypto.<name> under the shims."""
    shims.install()
    import importlib

    return importlib.import_module("sbd.crypto." + name)


def generate_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The raw 32-byte public key the device verifies against."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def private_key_pem(key: Ed25519PrivateKey, password: bytes | None) -> bytes:
    """PKCS#8 PEM, encrypted with password when one is given."""
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def load_private_key_pem(data: bytes, password: bytes | None) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(data, password=password)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return key


def sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    return key.sign(message)


def verify_like_device(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Verify exactly as a device does (strict, cofactored; sbd.crypto.ed25519)."""
    ed = _device("ed25519")
    shims.install()
    import importlib

    crypto = importlib.import_module("sbd.crypto")
    try:
        ed.verify(public_key, signature, message)
    except crypto.CryptoError:
        return False
    return True


def aead_encrypt(key: bytes, plaintext: bytes, ad: bytes = b"", context: bytes = b"") -> bytes:
    """An sbd AEAD record (docs/crypto.md) that a device opens with the same key and context."""
    return bytes(_device("aead").Aead(key, context).encrypt(plaintext, ad))


def aead_decrypt(key: bytes, record: bytes, ad: bytes = b"", context: bytes = b"") -> bytes:
    """Open an sbd AEAD record; raises sbd.crypto.BadMAC / MalformedInput."""
    return bytes(_device("aead").Aead(key, context).decrypt(record, ad))
