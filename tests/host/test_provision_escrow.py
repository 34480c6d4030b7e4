"""Password escrow (sbdtools.provision.escrow): sealed to a vendor X25519 key,
recoverable only with its private key, any change refused."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sbdtools.errors import SbdError
from sbdtools.provision import escrow, passwords

PW = "k7mp2-xv9ad-3hrte-nq4fw"


@pytest.fixture(scope="module")
def vendor() -> escrow.X25519PrivateKey:
    return escrow.generate_key()


def test_round_trip(vendor: escrow.X25519PrivateKey) -> None:
    pw = passwords.generate()
    blob = escrow.seal(pw, vendor.public_key(), serial="SBD-000001", unique_id="a1b2c3d4")
    got = escrow.recover(blob, vendor)
    assert (got.password, got.serial, got.unique_id) == (pw, "SBD-000001", "a1b2c3d4")
    assert pw not in repr(got)
    assert blob[:4] == escrow.MAGIC and blob[4] == escrow.VERSION
    assert escrow.blob_key_id(blob) == escrow.key_id(vendor)


def test_the_blob_does_not_show_the_password(vendor: escrow.X25519PrivateKey) -> None:
    blob = escrow.seal(PW, vendor.public_key())
    assert PW.encode() not in blob and PW.replace("-", "").encode() not in blob


def test_each_seal_is_fresh(vendor: escrow.X25519PrivateKey) -> None:
    a, b = (escrow.seal(PW, vendor.public_key()) for _ in range(2))
    assert a != b, "a new ephemeral key and nonce each time"
    assert escrow.recover(a, vendor).password == escrow.recover(b, vendor).password == PW


def test_wrong_key_cannot_recover(vendor: escrow.X25519PrivateKey) -> None:
    blob = escrow.seal(PW, vendor.public_key())
    with pytest.raises(escrow.EscrowError, match="sealed to another key"):
        escrow.recover(blob, escrow.generate_key())


def test_wrong_key_with_a_forged_key_id_still_cannot_recover(vendor: escrow.X25519PrivateKey) -> None:
    """The key id only picks the key; it is not what keeps the password secret."""
    other = escrow.generate_key()
    blob = bytearray(escrow.seal(PW, vendor.public_key()))
    blob[6:14] = escrow.key_id(other)
    with pytest.raises(escrow.EscrowError, match="corrupt or was altered"):
        escrow.recover(bytes(blob), other)


def test_every_single_bit_flip_is_refused(vendor: escrow.X25519PrivateKey) -> None:
    blob = escrow.seal(PW, vendor.public_key(), serial="SBD-000001", unique_id="a1b2c3d4")
    for i in range(len(blob)):
        for bit in (0x01, 0x80):
            bad = bytearray(blob)
            bad[i] ^= bit
            with pytest.raises(escrow.EscrowError):
                escrow.recover(bytes(bad), vendor)


@pytest.mark.parametrize("cut", [0, 10, escrow.HEADER_SIZE, escrow.HEADER_SIZE + 15, -1])
def test_truncated_blobs_are_refused(vendor: escrow.X25519PrivateKey, cut: int) -> None:
    blob = escrow.seal(PW, vendor.public_key())
    with pytest.raises(escrow.EscrowError):
        escrow.recover(blob[:cut], vendor)


def test_unknown_version_is_named(vendor: escrow.X25519PrivateKey) -> None:
    blob = bytearray(escrow.seal(PW, vendor.public_key()))
    blob[4] = 2
    with pytest.raises(escrow.EscrowError, match="version 2 is not supported"):
        escrow.recover(bytes(blob), vendor)


def test_keys_save_and_load(vendor: escrow.X25519PrivateKey) -> None:
    pem = escrow.private_key_pem(vendor, b"vendor passphrase")
    assert b"ENCRYPTED" in pem
    loaded = escrow.load_private_key(pem, b"vendor passphrase")
    assert escrow.key_id(loaded) == escrow.key_id(vendor)
    with pytest.raises(escrow.EscrowError, match="wrong passphrase"):
        escrow.load_private_key(pem, b"not it")
    with pytest.raises(escrow.EscrowError, match="give its passphrase"):
        escrow.load_private_key(pem, None)
    raw = escrow.public_key_bytes(vendor)
    for form in (escrow.public_key_pem(vendor), raw, raw.hex().encode(), raw.hex().encode() + b"\n"):
        assert escrow.public_key_bytes(escrow.load_public_key(form)) == raw


BAD_PEM = b"-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----"


@pytest.mark.parametrize("data", [b"", b"not a key", b"00" * 31, BAD_PEM])
def test_bad_public_keys_are_refused(data: bytes) -> None:
    with pytest.raises(SbdError, match="escrow public key"):
        escrow.load_public_key(data)


def test_an_ed25519_key_is_not_an_escrow_key() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    k = Ed25519PrivateKey.generate()
    pub = k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(escrow.EscrowError, match="not an X25519"):
        escrow.load_public_key(pub)
    priv = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(escrow.EscrowError, match="not an X25519"):
        escrow.load_private_key(priv)


@dataclass(frozen=True)
class Row:
    unique_id: str
    serial: str
    escrow: bytes | None


def test_recover_board_checks_the_blob_belongs_to_the_row(vendor: escrow.X25519PrivateKey) -> None:
    blob = escrow.seal(PW, vendor.public_key(), serial="SBD-000001", unique_id="a1b2")
    assert escrow.recover_board(Row("a1b2", "SBD-000001", blob), vendor).password == PW
    with pytest.raises(escrow.EscrowError, match="sealed for another board"):
        escrow.recover_board(Row("c3d4", "SBD-000002", blob), vendor)
    with pytest.raises(escrow.EscrowError, match="has no escrowed password"):
        escrow.recover_board(Row("a1b2", "SBD-000001", None), vendor)
