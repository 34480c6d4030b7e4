"""sdk/package.json (mip) and sdk/manifest.py (freezing) are real and current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sbdtools import sdkpkg
from sbdtools.vboard import serial, store

SDK = Path(__file__).resolve().parents[2] / "sdk"


def test_package_json_lists_every_sdk_file() -> None:
    assert (SDK / "package.json").read_text() == sdkpkg.package_json(), (
        "sdk/package.json is stale: run `.venv/bin/python -m sbdtools.sdkpkg`"
    )


def test_manifest_freezes_the_sbd_package() -> None:
    calls: list[tuple[str, tuple[object, ...], dict[str, object]]] = []

    def rec(name: str):  # type: ignore[no-untyped-def]
        return lambda *a, **k: calls.append((name, a, k))

    exec((SDK / "manifest.py").read_text(), {"metadata": rec("metadata"), "package": rec("package")})
    assert ("package", ("sbd",), {}) in calls
    meta = next(k for n, _, k in calls if n == "metadata")
    assert meta["version"] == sdkpkg.__version__


def test_mip_install_from_package_json_on_a_board(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SBD_HOME", str(tmp_path / "home"))
    vb = store.create("mip", "pico_w")
    port = serial.start_background(vb)
    try:
        mpremote = str(Path(sys.executable).parent / "mpremote")
        r = subprocess.run([mpremote, "connect", port, "resume", "mip", "install", str(SDK / "package.json")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        r = subprocess.run([mpremote, "connect", port, "resume", "exec",
                            "import sbd, sbd.crypto.hmac; print('MIP-OK', sbd.__version__)"],
                           capture_output=True, text=True, timeout=60)
        assert f"MIP-OK {sdkpkg.__version__}" in r.stdout, r.stdout + r.stderr
    finally:
        serial.stop_background(vb)
