"""Password escrow: a board's password sealed to the vendor's X25519 public key.

The factory station holds only the public key, so it can seal but never
open; recovery needs the private key, kept offline by the vendor (for a
customer who lost the label, or for a recall).  The format is documented in
docs/provisioning.md ("Escrow blob"); in short, version 1 is

    offset  size  field
    0       4     magic "SBDE"
    4       1     format version (1)
    5       1     suite (1 = X25519, HKDF-SHA256, AES-256-GCM)
    6       8     key id: SHA-256(recipient public key)[:8]
    14      32    ephemeral X25519 public key
    46      12    AES-GCM nonce (random)
    58      n+16  AES-256-GCM(payload), tag last; the 58 header bytes are the associated data

    key     = HKDF-SHA256(ikm = X25519(ephemeral, recipient),
                          salt = ephemeral public || recipient public,
                          info = "sbd escrow v1", 32 bytes)
    payload = UTF-8 JSON {"password": ..., "serial": ..., "unique_id": ...}

Rules (tests in tests/host/test_provision_escrow.py): a blob opens only with
the matching private key; any change to any byte is refused (the header is
authenticated as associated data, the rest by the tag); a blob of an unknown
version or suite is refused by name, never guessed at.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sbdtools.errors import SbdError

MAGIC = b"SBDE"
VERSION = 1
SUITE_X25519_HKDF_SHA256_AES256GCM = 1
KEY_ID_SIZE = 8
PUBLIC_KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
_HEADER = struct.Struct(">4sBB8s32s12s")
HEADER_SIZE = _HEADER.size  # 58
MAX_PAYLOAD = 1024
HKDF_INFO = b"sbd escrow v1"


class EscrowError(SbdError):
    """An escrow blob or key cannot be used."""


@dataclass(frozen=True)
class Escrowed:
    """What an escrow blob holds."""

    password: str
    serial: str | None
    unique_id: str | None

    def __repr__(self) -> str:  # the password stays out of logs and tracebacks
        return f"Escrowed(password=***, serial={self.serial!r}, unique_id={self.unique_id!r})"


# -- keys ----------------------------------------------------------------------


def generate_key() -> X25519PrivateKey:
    """A new vendor escrow key pair (keep the private half offline)."""
    return X25519PrivateKey.generate()


def public_key_bytes(key: X25519PrivateKey | X25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: X25519PrivateKey | X25519PublicKey) -> bytes:
    """The 8-byte id a blob names its recipient key by (SHA-256 of the raw public key)."""
    return hashlib.sha256(public_key_bytes(key)).digest()[:KEY_ID_SIZE]


def public_key_pem(key: X25519PrivateKey | X25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_key_pem(key: X25519PrivateKey, password: bytes | None) -> bytes:
    """PKCS#8 PEM, encrypted with `password` when given (it should be)."""
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def load_public_key(data: bytes) -> X25519PublicKey:
    """A vendor public key from PEM, 32 raw bytes, or 64 hex digits."""
    text = data.strip()
    try:
        if text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(text)
            if isinstance(key, X25519PublicKey):
                return key
            raise EscrowError("the escrow key is not an X25519 public key")
        if len(text) == 2 * PUBLIC_KEY_SIZE:
            return X25519PublicKey.from_public_bytes(bytes.fromhex(text.decode("ascii")))
        if len(data) == PUBLIC_KEY_SIZE:
            return X25519PublicKey.from_public_bytes(data)
    except (ValueError, UnicodeDecodeError):
        pass
    raise EscrowError(
        "cannot read the escrow public key: expected a PEM X25519 public key, 32 raw bytes or 64 hex digits"
    )


def load_private_key(data: bytes, password: bytes | None = None) -> X25519PrivateKey:
    """The vendor private key from PKCS#8 PEM (encrypted with `password` if it is)."""
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except TypeError:
        raise EscrowError("the escrow private key is encrypted: give its passphrase") from None
    except ValueError:
        raise EscrowError("cannot read the escrow private key (not PEM, or a wrong passphrase)") from None
    if not isinstance(key, X25519PrivateKey):
        raise EscrowError("the escrow private key is not an X25519 key")
    return key


# -- seal and recover ----------------------------------------------------------


def _derive(shared: bytes, eph_pub: bytes, recipient_pub: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=eph_pub + recipient_pub, info=HKDF_INFO).derive(shared)


def seal(
    password: str,
    public_key: X25519PublicKey,
    *,
    serial: str | None = None,
    unique_id: str | None = None,
) -> bytes:
    """An escrow blob of `password` (with the board's serial and unique id) for the holder of public_key."""
    payload = json.dumps(
        {"password": password, "serial": serial, "unique_id": unique_id}, separators=(",", ":")
    ).encode()
    if len(payload) > MAX_PAYLOAD:
        raise EscrowError(f"escrow payload is over {MAX_PAYLOAD} bytes")
    eph = X25519PrivateKey.generate()
    eph_pub = public_key_bytes(eph)
    recipient = public_key_bytes(public_key)
    key = _derive(eph.exchange(public_key), eph_pub, recipient)
    nonce = os.urandom(NONCE_SIZE)
    header = _HEADER.pack(MAGIC, VERSION, SUITE_X25519_HKDF_SHA256_AES256GCM, key_id(public_key), eph_pub, nonce)
    return header + AESGCM(key).encrypt(nonce, payload, header)


def blob_key_id(blob: bytes) -> bytes:
    """The recipient key id a blob names (to pick the right private key)."""
    return _parse_header(blob)[2]


def _parse_header(blob: bytes) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    if not isinstance(blob, (bytes, bytearray)) or len(blob) < HEADER_SIZE + TAG_SIZE:
        raise EscrowError("not an sbd escrow blob (too short)")
    magic, version, suite, kid, eph_pub, nonce = _HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise EscrowError("not an sbd escrow blob (bad magic)")
    if version != VERSION:
        raise EscrowError(f"escrow blob format version {version} is not supported by this sbd (it reads {VERSION})")
    if suite != SUITE_X25519_HKDF_SHA256_AES256GCM:
        raise EscrowError(f"escrow blob uses unknown algorithm suite {suite}")
    return bytes(blob[:HEADER_SIZE]), nonce, kid, eph_pub, bytes(blob[HEADER_SIZE:])


def recover(blob: bytes, private_key: X25519PrivateKey) -> Escrowed:
    """Open an escrow blob with the vendor private key.  EscrowError if the key
    is not the one it was sealed to, or the blob was altered or is corrupt."""
    header, nonce, kid, eph_pub, ct = _parse_header(blob)
    if kid != key_id(private_key):
        raise EscrowError(
            f"this escrow blob was sealed to another key (id {kid.hex()}); this private key's id is "
            f"{key_id(private_key).hex()}"
        )
    try:
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(eph_pub))
        key = _derive(shared, eph_pub, public_key_bytes(private_key))
        payload = AESGCM(key).decrypt(nonce, ct, header)
    except (InvalidTag, ValueError):
        raise EscrowError("the escrow blob is corrupt or was altered: it does not authenticate") from None
    try:
        obj = json.loads(payload.decode())
        password, serial, uid = obj["password"], obj.get("serial"), obj.get("unique_id")
        if not isinstance(password, str) or not all(v is None or isinstance(v, str) for v in (serial, uid)):
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError):
        raise EscrowError("the escrow blob authenticates but its payload is malformed") from None
    return Escrowed(password, serial, uid)


class _EscrowRow(Protocol):
    """What recover_board() needs of a factory database row (factorydb.BoardRow)."""

    @property
    def unique_id(self) -> str: ...
    @property
    def serial(self) -> str: ...
    @property
    def escrow(self) -> bytes | None: ...


def recover_board(row: _EscrowRow, private_key: X25519PrivateKey) -> Escrowed:
    """The password escrowed for a board's database row (factorydb.get_board /
    get_board_by_serial).  Refuses a row without escrow, and a blob whose sealed
    serial or unique id is not this row's (a blob copied to another row)."""
    if row.escrow is None:
        raise EscrowError(
            f"board {row.unique_id} (serial {row.serial}) has no escrowed password: it was provisioned "
            "without --escrow-key"
        )
    got = recover(row.escrow, private_key)
    if (got.serial, got.unique_id) != (row.serial, row.unique_id):
        raise EscrowError(
            f"the escrow stored for serial {row.serial} was sealed for another board "
            f"(serial {got.serial}); the database row was altered or mixed up"
        )
    return got
