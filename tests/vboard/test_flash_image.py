"""Per-device images boot: `sbd flash image` output (firmware + filesystem
with the SDK and the factory record) parsed back, its filesystem part put on
a virtual board of the same family, and the board's identity and password
work there; the firmware's SHA-256 is in the factory database."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.firmware_synth import esp_firmware, rp2_firmware, write
from sbdtools import boards, cli, fsimage, station
from sbdtools.flash import firmware, uf2
from sbdtools.mpytools import interpreter_mpy
from sbdtools.provision import factorydb
from sbdtools.vboard import runner, store

PRODUCT = station.Product("Acme Sensor", "2031-12-31", "security@acme.example")


def _password_works(vb: store.VBoard, password: str) -> bool:
    out = runner.boot(vb, script=f"from sbd import auth\nprint('AUTH', auth.check({password!r}))").output
    assert "AUTH " in out, out
    return "AUTH True" in out


def _fs_part(board: boards.BoardConfig, image: bytes) -> bytes:
    fs = board.filesystem
    if board.firmware_format == "bin":
        return image[fs.offset : fs.offset + fs.size]
    flash = uf2.image(uf2.parse(image), board.flash_base_address, board.flash_size)
    return bytes(flash[fs.offset : fs.offset + fs.size])


@pytest.mark.parametrize("board", ["pico_w", "esp32"])
def test_device_image_boots_on_a_virtual_board(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, board: str) -> None:
    monkeypatch.setenv("SBD_HOME", str(tmp_path / "home"))
    cfg = boards.load(board)
    vb = store.create("dut", board)
    fw_data = esp_firmware(cfg) if board == "esp32" else rp2_firmware(cfg)
    fw = write(tmp_path / f"fw.{cfg.firmware_format}", fw_data)
    allow = tmp_path / "allow.txt"
    digest = firmware.allow(allow, fw)
    arch = interpreter_mpy(runner.micropython_binary())[2]  # the virtual board runs x64 code
    opts = station.Options(labels_dir=tmp_path / "labels", label_formats=("png",), keep_password=True)
    out_path = tmp_path / f"dev.{cfg.firmware_format}"
    with factorydb.open_db(str(tmp_path / "f.db")) as db:
        img, outcome = firmware.build_device_image(out_path, cfg, fw, allow, vb.uid, db, PRODUCT, opts, arch=arch)
        row = factorydb.get_board(db, vb.uid.hex())
    assert outcome.ok and img.firmware_sha256 == digest
    assert row is not None and row.state == "provisioned" and row.firmware_version == digest
    data = out_path.read_bytes()
    part = _fs_part(cfg, data)
    assert ".sbd/factory/identity.bin" in fsimage.read_image(part, cfg)
    with open(vb.image, "r+b") as f:
        fsimage.place_in_flash(f, cfg, part)
    assert _password_works(vb, outcome.password or "")
    assert not _password_works(vb, "not-the-password")


def test_cli_refuses_firmware_off_the_list_and_leaves_no_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SBD_HOME", str(tmp_path / "home"))
    cfg = boards.load("pico_w")
    fw = write(tmp_path / "fw.uf2", rp2_firmware(cfg))
    allow = write(tmp_path / "allow.txt", b"# empty\n")
    out = tmp_path / "dev.uf2"
    args = ["flash", "image", "--board", "pico_w", "--firmware", str(fw), "--allow-list", str(allow)]
    args += ["--uid", "e6614103e7452d2f", "--out", str(out), "--db", str(tmp_path / "f.db"), "--new-db"]
    args += ["--labels", str(tmp_path / "labels"), "--model", "Acme", "--support-end", "2031-12-31"]
    args += ["--disclosure", "security@acme.example"]
    with pytest.raises(SystemExit) as e:
        cli.main(args)
    err = capsys.readouterr().err
    assert e.value.code == 1 and "not on the firmware allow-list" in err and "sbd flash allow" in err
    assert not out.exists() and not list(tmp_path.glob("dev.uf2*"))
    with pytest.raises(SystemExit) as e:
        cli.main(["flash", "allow", str(fw), "--allow-list", str(allow)])
    assert e.value.code == 0
    with pytest.raises(SystemExit) as e:
        cli.main(args)
    got = capsys.readouterr()
    assert e.value.code == 0, got.err
    blocks = uf2.parse(out.read_bytes())
    assert {b.family for b in blocks} == {cfg.uf2_family_id}
