"""`sbd ota add --firmware`: an ESP32 firmware release published with the
real CLI (`sbd keys`, `sbd ota init|add|sign`) from a synthetic MicroPython
app image (tests/harness/firmware_synth.py), judged by `sbd ota verify`, and
installed by the device's own client on a virtual ESP32 through DirFetcher:
set to boot, trial-booted, confirmed.  A tampered image is refused by the
device; an image too large for the app partition, the full firmware .bin, an
image for another chip, one missing from the allow-list and any RP2 board
are refused by `sbd ota add` before anything is written."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from ota_repo import board_files, esp32_app, make_repo

from harness.firmware_synth import esp_firmware, esp_ota_app, write
from harness.vboards import SdkBoard
from sbdtools import boards, ota_verify

SBD = str(Path(sys.executable).parent / "sbd")
PASS = "correct horse battery"
PRODUCT = "acme"
ESP32 = boards.load("esp32")
PART = min(p.size for p in ESP32.app_partitions)


def sbd(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SBD_FIRMWARE_ALLOW"}
    env["SBD_KEY_PASSPHRASE"] = PASS
    r = subprocess.run([SBD, *args], capture_output=True, text=True, env=env, timeout=300)
    if ok:
        assert r.returncode == 0, f"sbd {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def _sign(repo: Path, keys: Path, roles: tuple[str, ...] = ("targets", "snapshot", "timestamp")) -> None:
    for role in roles:
        sbd("ota", "sign", str(repo), "--role", role, "--key", str(keys / f"{role}.key"))
    sbd("ota", "publish", str(repo))


def _tree(repo: Path) -> dict[str, str]:
    return {
        str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest() for p in repo.rglob("*") if p.is_file()
    }


FW = {1: esp_ota_app("esp32", "v1.24.0", 20000), 2: esp_ota_app("esp32", "v1.25.0", 24000)}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A repository with firmware releases 1 and 2 for the esp32, every
    step through the CLI; returns (repo, keys folder)."""
    tmp = tmp_path_factory.mktemp("fwcli")
    keys = tmp / "keys"
    keys.mkdir()
    for role in ("root", "targets", "snapshot", "timestamp"):
        sbd("keys", "new", str(keys / f"{role}.key"))
    repo = tmp / "repo"
    args = [
        a for role in ("root", "targets", "snapshot", "timestamp") for a in (f"--{role}-key", f"{keys}/{role}.key.pub")
    ]
    sbd("ota", "init", str(repo), *args)
    _sign(repo, keys, ("root", "targets", "snapshot", "timestamp"))
    allow = tmp / "allow.txt"
    for n, data in FW.items():
        fw = write(tmp / f"mp{n}.app-bin", data)
        sbd("flash", "allow", str(fw), "--allow-list", str(allow))
        r = sbd(
            "ota", "add", str(repo), "--firmware", str(fw), "--board", "esp32", "--product", PRODUCT,
            "--version", f"{n}.0.0", "--allow-list", str(allow),
        )  # fmt: skip
        assert f"release {n}: firmware for esp32 (micropython v1.2{3 + n}.0, {len(data)} bytes" in r.stdout, r.stdout
        _sign(repo, keys)
    return repo, keys


def test_the_published_target_carries_what_the_device_checks(published: tuple[Path, Path]) -> None:
    repo, _ = published
    targets = json.loads((repo / "metadata" / "targets.json").read_bytes())["signed"]["targets"]
    assert sorted(targets) == [f"{PRODUCT}/esp32/{n}/firmware.bin" for n in (1, 2)]
    t = targets[f"{PRODUCT}/esp32/1/firmware.bin"]
    assert t["length"] == len(FW[1]) and t["hashes"]["sha256"] == hashlib.sha256(FW[1]).hexdigest()
    assert t["custom"] == {
        "sbd": {
            "product": PRODUCT,
            "boards": ["esp32"],
            "release": 1,
            "version": "1.0.0",
            "floor": 0,
            "kind": "firmware",
        }
    }
    assert (repo / "targets" / PRODUCT / "esp32" / "1" / "firmware.bin").read_bytes() == FW[1]
    # `sbd ota verify` judges it as a device would: accepted, release 2 the newest.
    r = sbd("ota", "verify", str(repo), "--board", "esp32")
    assert "release 2 (2.0.0), the newest" in r.stdout and f"accepted  {PRODUCT}/esp32/1/firmware.bin" in r.stdout
    assert "REFUSED" not in r.stdout and "DISAGREEMENT" not in r.stderr, r.stdout + r.stderr


HEAD = """
import gc
from sbd import ota, events
seen = []
events.subscribe(lambda n, f: seen.append(n))
def install(n, targets='/repo/targets'):
    from sbd.ota import client
    root = open('/repo/metadata/1.root.json', 'rb').read()
    t = client.refresh(client.DirFetcher('/repo/metadata'), NOW, root)
    root = None
    gc.collect()
    from sbd.ota import release, firmware
    return firmware.install(t, release.release(t, 'acme', 'esp32', n), client.DirFetcher(targets))
def state():
    from sbd import boot
    fw = boot.read_firmware()
    print('FW', fw and (fw['release'], fw['trial'], fw['label']))
"""
BOOT = "from sbd import boot\nboot.select()\nstate()\nprint('EVENTS', seen)\n"


def _head() -> str:
    return f"NOW = {ota_verify.device_now()!r}\n" + HEAD


def test_installed_trial_booted_and_confirmed_on_a_virtual_esp32(
    make_sdk_board: Callable[..., SdkBoard], published: tuple[Path, Path]
) -> None:
    repo, _ = published
    board = make_sdk_board(board="esp32", files=board_files(repo))
    assert board.exec("pass").running == "ota_0"
    out = board.exec(_head() + "print('SET', install(1))\nstate()").output
    assert "SET ota_1" in out and "FW (0, 1, 'ota_1')" in out, out
    # The bytes in the next app partition are the published image.
    part = ESP32.partition("ota_1")
    assert board.flash.read_bytes()[part.offset : part.offset + len(FW[1])] == FW[1]
    trial = board.exec(_head() + BOOT + "print('CONFIRM', boot.confirm())\nstate()")
    assert trial.running == "ota_1", trial.output
    assert "CONFIRM True" in trial.output and "FW (1, 0, 'ota_1')" in trial.output, trial.output
    again = board.exec(_head() + BOOT)
    assert again.running == "ota_1" and "boot.rollback" not in again.output, again.output
    # Release 2 goes to the other partition and is confirmed on its trial too.
    assert "SET ota_0" in board.exec(_head() + "print('SET', install(2))").output
    trial2 = board.exec(_head() + BOOT + "print('CONFIRM', boot.confirm())\nstate()")
    assert trial2.running == "ota_0" and "FW (2, 0, 'ota_0')" in trial2.output, trial2.output


def test_a_tampered_image_is_refused_by_the_device_and_by_verify(
    make_sdk_board: Callable[..., SdkBoard], published: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, _ = published
    bad = tmp_path / "bad"
    shutil.copytree(repo, bad)
    target = bad / "targets" / PRODUCT / "esp32" / "2" / "firmware.bin"
    data = bytearray(target.read_bytes())
    data[4000] ^= 0x01  # inside the first segment: the image's own checksum and SHA-256 break too
    target.write_bytes(bytes(data))
    r = sbd("ota", "verify", str(bad), "--board", "esp32", ok=False)
    assert r.returncode == 1 and "REFUSED (mismatch" in r.stdout and f"{PRODUCT}/esp32/2/firmware.bin" in r.stdout, (
        r.stdout
    )
    board = make_sdk_board(board="esp32", files=board_files(bad))
    out = board.exec(
        _head() + "try:\n    install(2)\nexcept ota.OtaError as e:\n    print('REFUSED', e.reason)\n"
        "state()\nprint('EVENTS', seen)"
    ).output
    assert "REFUSED mismatch" in out and "'ota.rejected'" in out and "FW None" in out, out
    after = board.exec(_head() + BOOT)
    assert after.running == "ota_0" and "boot.rollback" not in after.output, after.output


def _add_fw(repo: Path, fw: Path, board: str = "esp32", *extra: str) -> subprocess.CompletedProcess[str]:
    return sbd(
        "ota", "add", str(repo), "--firmware", str(fw), "--board", board, "--product", PRODUCT, "--version", "9.0.0",
        *extra, ok=False,
    )  # fmt: skip


def test_add_refuses_before_writing_anything(published: tuple[Path, Path], tmp_path: Path) -> None:
    repo, _ = published
    before = _tree(repo)
    allow = tmp_path / "allow.txt"
    allow.write_text(f"{hashlib.sha256(FW[1]).hexdigest()}  mp1\n")
    # One byte more than the image that just fits would not fit the app partition.
    big = esp_ota_app("esp32", "v9.9.9", PART + 4096)
    cases = {
        "too large": (write(tmp_path / "big.app-bin", big), "esp32", (), f"does not fit the {PART}-byte app partition"),
        "full .bin": (write(tmp_path / "full.bin", esp_firmware(ESP32)), "esp32", (), "full firmware .bin"),
        "other chip": (write(tmp_path / "s3.app-bin", esp_ota_app("esp32s3")), "esp32", (), "built for esp32s3"),
        "not allowed": (write(tmp_path / "mp3.app-bin", esp_ota_app("esp32", "v3")), "esp32",
                        ("--allow-list", str(allow)), "not on the firmware allow-list"),
        "rp2": (write(tmp_path / "pico.app-bin", FW[1]), "pico_w", (), "RP2 boards have no app partitions"),
        "rp2 2w": (write(tmp_path / "pico2.app-bin", FW[1]), "pico2_w", (), "RP2 boards have no app partitions"),
        "not an app": (write(tmp_path / "x.bin", b"\xe9" + bytes(300)), "esp32", (), "x.bin"),
        "truncated": (write(tmp_path / "t.app-bin", FW[1][:-40]), "esp32", (), "t.app-bin"),
    }  # fmt: skip
    for what, (fw, board, extra, msg) in cases.items():
        r = _add_fw(repo, fw, board, *extra)
        assert r.returncode == 1 and msg in r.stderr, (what, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr, (what, r.stderr)
        assert _tree(repo) == before, what
    # The image just below the limit is taken (the refusal above is the size).
    fits = esp_ota_app("esp32", "v9.9.8", PART - 4096)
    assert len(fits) <= PART < len(big)
    ok = tmp_path / "ok"
    shutil.copytree(repo, ok)
    r = _add_fw(ok, write(tmp_path / "fits.app-bin", fits))
    assert r.returncode == 0 and "release 3: firmware for esp32" in r.stdout, r.stdout + r.stderr
    # Usage: a firmware release carries no app folder.
    r = _add_fw(repo, write(tmp_path / "y.app-bin", FW[1]), "esp32", "--with-sdk")
    assert r.returncode == 2 and "--firmware makes a release of one firmware image" in r.stderr, r.stderr
    assert _tree(repo) == before


def test_verify_judges_firmware_targets_as_a_device_would(tmp_path: Path) -> None:
    # Releases a careless publisher could sign with the library (not `sbd ota
    # add`): a signed non-image, an image too large for the partition, and a
    # firmware release for an RP2 board.  A device refuses each; so does verify.
    esp = tmp_path / "esp"
    make_repo(
        esp,
        "esp32",
        {
            1: {"firmware.bin": ("firmware", esp32_app("fw-1", 20000))},
            2: {"firmware.bin": ("firmware", b"\xe9 signed, but not an app image" + bytes(100))},
            3: {"firmware.bin": ("firmware", esp_ota_app("esp32", "v3", 20000) + bytes(PART))},
        },
    )
    v = ota_verify.verify(esp, board="esp32", now="2026-11-30T00:00:00Z")
    got = {t.release: (t.device, t.detail) for t in v.targets}
    assert got[1] == ("accepted", ""), got
    assert got[2][0] == "malformed" and "ESP-IDF would not" in got[2][1], got
    assert got[3][0] == "refused" and "larger than the" in got[3][1], got
    assert v.refused and v.disagreements == []
    pico = tmp_path / "pico"
    make_repo(pico, "pico_w", {1: {"firmware.bin": ("firmware", FW[1])}})
    v = ota_verify.verify(pico, board="pico_w", now="2026-11-30T00:00:00Z")
    assert [(t.device, "RP2 boards have no app partitions" in t.detail) for t in v.targets] == [("refused", True)]


def test_push_installs_a_firmware_release_over_the_serial_line(
    make_sdk_board: Callable[..., SdkBoard], published: tuple[Path, Path]
) -> None:
    repo, _ = published
    board = make_sdk_board(board="esp32", name="fwpush")
    root = str(repo / "metadata" / "1.root.json")
    r = sbd("ota", "push", str(repo), "--vboard", board.name, "--trusted-root", root)
    assert "release 2 (2.0.0) installed on trial; reboot to boot it" in r.stdout, r.stdout + r.stderr
    part = ESP32.partition("ota_1")
    assert board.flash.read_bytes()[part.offset : part.offset + len(FW[2])] == FW[2]
    trial = board.exec(_head() + BOOT + "print('CONFIRM', boot.confirm())\nstate()")
    assert trial.running == "ota_1" and "FW (2, 0, 'ota_1')" in trial.output, trial.output
    # The same release again: the board says it is not newer.
    r = sbd("ota", "push", str(repo), "--vboard", board.name, "--trusted-root", root, ok=False)
    assert r.returncode == 1 and "REFUSED (rollback)" in r.stdout, r.stdout + r.stderr


def test_verify_never_loads_a_board_config_named_by_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Board names in releases are signed data, not paths: "x.json" must not
    # make verify read ./x.json (here a valid RP2 config that would refuse).
    shutil.copyfile(Path(boards.__file__).resolve().parents[2] / "board_configs" / "pico_w.json", tmp_path / "x.json")
    monkeypatch.chdir(tmp_path)
    repo = tmp_path / "repo"
    make_repo(repo, "x.json", {1: {"firmware.bin": ("firmware", FW[1])}})
    v = ota_verify.verify(repo, board="x.json", now="2026-11-30T00:00:00Z")
    assert [t.device for t in v.targets] == ["accepted"], v.targets
