"""The compact vector files in tests/device/data are exactly what
tests/host/make_crypto_vectors.py makes from ../shared/vectors today."""

from __future__ import annotations

import os

import make_crypto_vectors as mv
import pytest


def test_committed_vector_files_are_fresh() -> None:
    if not os.path.isdir(os.path.join(mv.DEFAULT_VECTORS, "wycheproof")):
        pytest.skip(f"no shared vectors at {mv.DEFAULT_VECTORS}")
    for name, text in mv.render(mv.DEFAULT_VECTORS).items():
        path = os.path.join(mv.DATA_DIR, name)
        with open(path, encoding="utf-8") as f:
            committed = f.read()
        assert committed == text, f"{path} is stale: run python tests/host/make_crypto_vectors.py"


def test_every_case_is_kept() -> None:
    if not os.path.isdir(os.path.join(mv.DEFAULT_VECTORS, "wycheproof")):
        pytest.skip(f"no shared vectors at {mv.DEFAULT_VECTORS}")
    counts = {name: text.count("\n") - 3 for name, text in mv.render(mv.DEFAULT_VECTORS).items()}
    assert counts == {
        "ed25519.txt": 151,
        "hmac_sha256.txt": 174,
        "hkdf_sha256.txt": 86,
        "pbkdf2_sha256.txt": 60,
        "aes_cbc_pkcs5.txt": 216,
    }
