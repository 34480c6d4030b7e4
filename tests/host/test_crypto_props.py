"""Property tests of sbd.crypto (the device code, under the shims) against
pyca/cryptography: random keys and messages, and every single-bit flip of a
signature, public key, AEAD record (header, IV, ciphertext, tag) or
associated data is rejected."""

from __future__ import annotations

import hashlib
import hmac as std_hmac

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from sbdtools import crypto_host, shims

shims.install()

from sbd.crypto import BadMAC, BadSignature, CryptoError, MalformedInput, aead, ed25519, hmac, kdf  # noqa: E402  # noqa: E402

keys32 = st.binary(min_size=32, max_size=32)
messages = st.binary(max_size=300)


def _sk(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


@settings(max_examples=30, deadline=None)
@given(seed=keys32, msg=messages, bit=st.integers(0, 511))
def test_ed25519_signatures_and_signature_bit_flips(seed: bytes, msg: bytes, bit: int) -> None:
    sk = _sk(seed)
    pk = crypto_host.public_key_bytes(sk)
    sig = crypto_host.sign(sk, msg)
    ed25519.verify(pk, sig, msg)
    key = ed25519.Ed25519PublicKey(pk, precompute=True)
    key.verify(sig, msg)
    bad = bytearray(sig)
    bad[bit >> 3] ^= 1 << (bit & 7)
    with pytest.raises(BadSignature):
        key.verify(bytes(bad), msg)
    with pytest.raises(BadSignature):
        ed25519.verify(pk, bytes(bad), msg)


@settings(max_examples=30, deadline=None)
@given(seed=keys32, msg=messages, bit=st.integers(0, 255))
def test_ed25519_public_key_bit_flips(seed: bytes, msg: bytes, bit: int) -> None:
    sk = _sk(seed)
    pk = bytearray(crypto_host.public_key_bytes(sk))
    sig = crypto_host.sign(sk, msg)
    pk[bit >> 3] ^= 1 << (bit & 7)
    with pytest.raises(CryptoError):  # MalformedInput (not a point) or BadSignature
        ed25519.verify(bytes(pk), sig, msg)


@settings(max_examples=30, deadline=None)
@given(seed=keys32, msg=messages, other=messages)
def test_ed25519_wrong_message(seed: bytes, msg: bytes, other: bytes) -> None:
    sk = _sk(seed)
    sig = sk.sign(msg)
    pk = crypto_host.public_key_bytes(sk)
    assert crypto_host.verify_like_device(pk, sig, other) == (other == msg)


def test_cofactored_vector_differs_from_openssl() -> None:
    # The device test pins that sbd accepts this signer-made vector
    # (cofactored equation); OpenSSL, being cofactorless, refuses it.
    pk = bytes.fromhex("c59326c2e66e4df141ab01d2e114274ae1fcb843f5c1a86ea942bbc6159a22b3")
    sig = bytes.fromhex(
        "696d1a1088671d4dc422d6d3d1d50ef86848c25ca35622e3c8aa428c5a6199b9"
        "54c360cb229d1466ed7dae4146af469d4f09f0fd3b22308c828b0c7ede193a01"
    )
    assert crypto_host.verify_like_device(pk, sig, b"cofactored")
    with pytest.raises(InvalidSignature):
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, b"cofactored")


def _reference_record(key: bytes, context: bytes, pt: bytes, ad: bytes, iv: bytes) -> bytes:
    # The record format of docs/crypto.md, written independently with pyca.
    km = HKDF(hashes.SHA256(), 64, None, b"sbd aead v1" + context).derive(key)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(pt) + padder.finalize()
    enc = Cipher(algorithms.AES(km[:32]), modes.CBC(iv)).encryptor()
    body = b"\x01\x01" + iv + enc.update(padded) + enc.finalize()
    tag = std_hmac.new(km[32:], ad + body + (len(ad) * 8).to_bytes(8, "big"), hashlib.sha256).digest()
    return body + tag


@settings(max_examples=40, deadline=None)
@given(
    key=keys32,
    ctx=st.binary(max_size=16),
    pt=messages,
    ad=st.binary(max_size=40),
    iv=st.binary(min_size=16, max_size=16),
)
def test_aead_matches_independent_reference(key: bytes, ctx: bytes, pt: bytes, ad: bytes, iv: bytes) -> None:
    rec = bytes(aead.Aead(key, ctx).encrypt(pt, ad, iv=iv))
    assert rec == _reference_record(key, ctx, pt, ad, iv)
    assert crypto_host.aead_decrypt(key, rec, ad, ctx) == pt
    assert crypto_host.aead_decrypt(key, crypto_host.aead_encrypt(key, pt, ad, ctx), ad, ctx) == pt


@settings(max_examples=60, deadline=None)
@given(key=keys32, pt=messages, ad=st.binary(max_size=40), data=st.data())
def test_aead_every_field_bit_flip_rejected(key: bytes, pt: bytes, ad: bytes, data: st.DataObject) -> None:
    rec = crypto_host.aead_encrypt(key, pt, ad)
    bit = data.draw(st.integers(0, len(rec) * 8 - 1), label="record bit")
    bad = bytearray(rec)
    bad[bit >> 3] ^= 1 << (bit & 7)
    # header (bits 0-15) -> MalformedInput; IV, ciphertext, tag -> BadMAC
    with pytest.raises(MalformedInput if bit < 16 else BadMAC):
        crypto_host.aead_decrypt(key, bytes(bad), ad)
    if ad:
        abit = data.draw(st.integers(0, len(ad) * 8 - 1), label="AD bit")
        bad_ad = bytearray(ad)
        bad_ad[abit >> 3] ^= 1 << (abit & 7)
        with pytest.raises(BadMAC):
            crypto_host.aead_decrypt(key, rec, bytes(bad_ad))


@settings(max_examples=50, deadline=None)
@given(key=st.binary(max_size=150), msg=messages)
def test_hmac_matches_stdlib(key: bytes, msg: bytes) -> None:
    assert hmac.hmac_sha256(key, msg) == std_hmac.new(key, msg, hashlib.sha256).digest()


@settings(max_examples=30, deadline=None)
@given(ikm=st.binary(max_size=80), salt=st.binary(max_size=80), info=st.binary(max_size=80), n=st.integers(1, 600))
def test_hkdf_matches_pyca(ikm: bytes, salt: bytes, info: bytes, n: int) -> None:
    want = HKDF(hashes.SHA256(), n, salt or None, info).derive(ikm)
    assert kdf.hkdf(ikm, salt, info, n) == want


@pytest.mark.parametrize("backend", ["native", "viper", "portable"])
@settings(max_examples=15, deadline=None)
@given(pw=st.binary(max_size=100), salt=st.binary(max_size=40), it=st.integers(1, 50), n=st.integers(1, 80))
def test_pbkdf2_matches_hashlib(backend: str, pw: bytes, salt: bytes, it: int, n: int) -> None:
    default = kdf.BACKEND
    try:
        assert kdf.use(backend)
        assert kdf.pbkdf2_hmac_sha256(pw, salt, it, n) == hashlib.pbkdf2_hmac("sha256", pw, salt, it, n)
    finally:
        kdf.use(default)


def test_private_key_pem_round_trip() -> None:
    sk = crypto_host.generate_signing_key()
    pem = crypto_host.private_key_pem(sk, b"pw")
    again = crypto_host.load_private_key_pem(pem, b"pw")
    assert crypto_host.public_key_bytes(again) == crypto_host.public_key_bytes(sk)
    assert len(crypto_host.sign(again, b"m")) == crypto_host.SIGNATURE_SIZE


class _OpenSslNative:
    """A fake sbd_native whose verifier is OpenSSL (through pyca/cryptography):
    cofactorless, and it takes some small-order and non-canonical keys."""

    @staticmethod
    def ed25519_verify(pk: bytes, sig: bytes, msg: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(bytes(pk)).verify(bytes(sig), bytes(msg))
        except (InvalidSignature, ValueError):
            return False
        return True


# "Taming the many EdDSAs" case 0 (S = 0, A and R of small order): OpenSSL
# accepts it, sbd refuses the key.
_SMALL_ORDER_CASE = (
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a" + "00" * 32,
    "8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6",
)


def test_openssl_backed_native_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    pk, sig, msg = (bytes.fromhex(h) for h in _SMALL_ORDER_CASE)
    native = _OpenSslNative()
    assert native.ed25519_verify(pk, sig, msg), "OpenSSL takes the small-order case"
    monkeypatch.setitem(sys.modules, "sbd_native", native)
    try:
        assert not ed25519.use("native"), "its policy is not sbd's: refused by the known-answer test"
        assert ed25519.BACKEND == "python"
        # The import-time selection (sbd_native present) refuses it as well.
        importlib.reload(ed25519)
        assert ed25519.BACKEND == "python"
        with pytest.raises(MalformedInput):
            ed25519.verify(pk, sig, msg)
    finally:
        monkeypatch.delitem(sys.modules, "sbd_native")
        importlib.reload(ed25519)
    assert ed25519.BACKEND == "python"
