"""`sbd ota sign --signer CMD`: an external signer that hangs, cannot start
or prints garbage ends in a clear OtaError, and no message repeats the
command line (it may carry a PIN or a token)."""

from __future__ import annotations

import sys

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import SSlibKey

from sbdtools import ota

TOKEN = "pin-4711-do-not-print"


def _signer(code: str) -> ota.CommandSigner:
    pub = SSlibKey.from_crypto(Ed25519PrivateKey.generate().public_key())
    return ota.CommandSigner([sys.executable, "-c", code, TOKEN], pub)


def test_a_signer_that_hangs_is_stopped_without_echoing_its_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ota, "SIGNER_TIMEOUT", 1)
    with pytest.raises(ota.OtaError, match="did not answer within 1 s") as e:
        _signer("import time; time.sleep(30)").sign(b"payload")
    assert TOKEN not in str(e.value) and TOKEN not in repr(e.value.__cause__)


def test_a_signer_that_cannot_start_says_so_without_its_arguments() -> None:
    pub = SSlibKey.from_crypto(Ed25519PrivateKey.generate().public_key())
    with pytest.raises(ota.OtaError, match="could not be started") as e:
        ota.CommandSigner(["/nonexistent/signer", TOKEN], pub).sign(b"payload")
    assert TOKEN not in str(e.value)


@pytest.mark.parametrize("out", ["'z' * 128", "'\\u00e9' * 64", "'ab' * 10"])
def test_a_signer_that_prints_no_signature_is_refused_clearly(out: str) -> None:
    with pytest.raises(ota.OtaError, match="64-byte Ed25519 signature") as e:
        _signer(f"import sys; sys.stdout.write({out})").sign(b"payload")
    assert TOKEN not in str(e.value)
