"""sbd flash: the allow-list, firmware checks, per-device images parsed back
with esptool's readers and a UF2 parser, board detection from fake USB
listings, BOOTSEL drives as folders, and esptool's API driven with a stand-in
for the chip (real flashing is marked hardware)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.firmware_synth import esp_firmware, rp2_firmware, write
from sbdtools import boards, fsimage
from sbdtools.flash import firmware, targets, uf2
from sbdtools.flash.firmware import FirmwareError
from sbdtools.flash.targets import FlashError, Port


def _fs_image(tmp_path: Path, cfg: boards.BoardConfig) -> bytes:
    src = tmp_path / "fs"
    (src / ".sbd" / "factory").mkdir(parents=True)
    (src / ".sbd" / "factory" / "identity.bin").write_bytes(b"record")
    (src / "main.py").write_text("print('hi')\n")
    return fsimage.build_image(src, cfg)


# -- allow-list ----------------------------------------------------------------


def test_firmware_not_on_the_allow_list_is_refused_with_the_fix(tmp_path: Path) -> None:
    fw = write(tmp_path / "fw.bin", esp_firmware(boards.load("esp32")))
    allow = tmp_path / "allow.txt"
    with pytest.raises(FirmwareError, match="no firmware allow-list"):
        firmware.check_allowed(fw.read_bytes(), allow, str(fw))
    allow.write_text("# nothing trusted yet\n")
    with pytest.raises(FirmwareError, match="sbd flash allow"):
        firmware.check_allowed(fw.read_bytes(), allow, str(fw))
    digest = firmware.allow(allow, fw, "MicroPython 1.26 esp32")
    assert firmware.check_allowed(fw.read_bytes(), allow, str(fw)) == digest
    assert firmware.allow(allow, fw) == digest and allow.read_text().count(digest) == 1
    other = write(tmp_path / "other.bin", fw.read_bytes() + b"\0")
    with pytest.raises(FirmwareError, match="not on the firmware allow-list"):
        firmware.check_allowed(other.read_bytes(), allow, str(other))


def test_malformed_allow_list_names_the_line(tmp_path: Path) -> None:
    allow = write(tmp_path / "allow.txt", b"# ok\n" + b"a" * 64 + b" fine\nnot-a-hash\n")
    with pytest.raises(FirmwareError, match=r"allow.txt:3: must start with a SHA-256"):
        firmware.load_allow_list(allow)


# -- firmware checks -------------------------------------------------------------


@pytest.mark.parametrize("board", ["esp32", "esp32s3"])
def test_esp32_firmware_that_fits_passes(board: str) -> None:
    cfg = boards.load(board)
    firmware.check_firmware(esp_firmware(cfg), cfg, "fw.bin")


def test_esp32_firmware_for_another_chip_is_refused() -> None:
    cfg = boards.load("esp32")
    with pytest.raises(FirmwareError, match="built for esp32s3, but board esp32 is an esp32"):
        firmware.check_firmware(esp_firmware(cfg, chip="esp32s3"), cfg, "fw.bin")


def test_esp32_firmware_larger_than_the_partition_is_refused() -> None:
    cfg = boards.load("esp32")
    app = min(cfg.app_partitions, key=lambda p: p.offset)
    big = esp_firmware(cfg) + b"\xff" * (app.offset + app.size)
    with pytest.raises(FirmwareError, match="past the app partition"):
        firmware.check_firmware(big, cfg, "fw.bin")


def test_esp32_firmware_with_another_partition_layout_is_refused() -> None:
    cfg = boards.load("esp32")
    moved = tuple(dataclasses.replace(p, size=p.size - 0x10000) if p.name == "vfs" else p for p in cfg.partitions)
    table = firmware.partition_table(dataclasses.replace(cfg, partitions=moved))
    with pytest.raises(FirmwareError, match="no data partition at 0x310000"):
        firmware.check_firmware(esp_firmware(cfg, table=table), cfg, "fw.bin")
    bad = bytearray(firmware.partition_table(cfg))
    bad[5] ^= 1  # one flipped bit: the MD5 entry no longer matches
    with pytest.raises(FirmwareError, match="MD5"):
        firmware.check_firmware(esp_firmware(cfg, table=bytes(bad)), cfg, "fw.bin")


def test_not_an_esp_image_is_refused() -> None:
    cfg = boards.load("esp32")
    with pytest.raises(FirmwareError, match="not an ESP firmware image"):
        firmware.check_firmware(rp2_firmware(boards.load("pico_w")), cfg, "fw.bin")


def test_uf2_for_the_wrong_family_is_refused() -> None:
    with pytest.raises(FirmwareError, match="a UF2 for RP2040, but board pico2_w is RP2350"):
        firmware.check_firmware(rp2_firmware(boards.load("pico_w")), boards.load("pico2_w"), "fw.uf2")
    with pytest.raises(FirmwareError, match="a UF2 for RP2350"):
        firmware.check_firmware(rp2_firmware(boards.load("pico2_w")), boards.load("pico_w"), "fw.uf2")


def test_uf2_that_reaches_into_the_filesystem_is_refused() -> None:
    cfg = boards.load("pico_w")
    with pytest.raises(FirmwareError, match="outside the firmware area"):
        firmware.check_firmware(rp2_firmware(cfg, size=cfg.filesystem.offset + 256), cfg, "fw.uf2")
    firmware.check_firmware(rp2_firmware(cfg, size=cfg.filesystem.offset), cfg, "fw.uf2")


def test_damaged_uf2_is_refused() -> None:
    cfg = boards.load("pico_w")
    data = bytearray(rp2_firmware(cfg))
    with pytest.raises(uf2.UF2Error, match="not a multiple of 512"):
        firmware.check_firmware(bytes(data[:-1]), cfg, "fw.uf2")
    data[512] ^= 0xFF  # the second block's first magic number
    with pytest.raises(uf2.UF2Error, match="block 1 has no UF2 magic"):
        firmware.check_firmware(bytes(data), cfg, "fw.uf2")


# -- per-device images parsed back ---------------------------------------------


@pytest.mark.parametrize("board", ["esp32", "esp32s3"])
def test_esp32_merged_image_parses_back(tmp_path: Path, board: str) -> None:
    from esptool.bin_image import LoadFirmwareImage
    from esptool.targets import CHIP_DEFS

    cfg = boards.load(board)
    fw = esp_firmware(cfg)
    fs = _fs_image(tmp_path, cfg)
    merged = firmware.combine(cfg, fw, fs)
    assert len(merged) == cfg.filesystem.offset + cfg.filesystem.size  # raw merge_bin output from 0
    assert merged[cfg.firmware_offset : cfg.firmware_offset + len(fw)] == fw
    boot = LoadFirmwareImage(cfg.chip, merged[cfg.firmware_offset :])
    assert boot.chip_id == CHIP_DEFS[cfg.chip].IMAGE_CHIP_ID and boot.segments
    pt = cfg.partition_table_offset or 0
    got = firmware.read_partition_table(merged[pt : pt + 0xC00])
    assert [(n, off, size) for n, _, _, off, size in got] == [(p.name, p.offset, p.size) for p in cfg.partitions]
    app = min(cfg.app_partitions, key=lambda p: p.offset)
    assert LoadFirmwareImage(cfg.chip, merged[app.offset :]).segments
    part = merged[cfg.filesystem.offset :]
    assert fsimage.read_image(part, cfg)[".sbd/factory/identity.bin"] == b"record"


@pytest.mark.parametrize("board", ["pico_w", "pico2_w"])
def test_rp2_uf2_image_parses_back(tmp_path: Path, board: str) -> None:
    cfg = boards.load(board)
    fw = rp2_firmware(cfg)
    fs = _fs_image(tmp_path, cfg)
    out = firmware.combine(cfg, fw, fs)
    blocks = uf2.parse(out)
    assert {b.family for b in blocks} == {cfg.uf2_family_id}
    assert [b.block_no for b in blocks] == list(range(len(blocks)))
    assert {b.num_blocks for b in blocks} == {len(blocks)}
    assert all(len(b.data) == uf2.PAYLOAD and b.address % uf2.PAYLOAD == 0 for b in blocks)
    flash = uf2.image(blocks, cfg.flash_base_address, cfg.flash_size)
    assert flash[: 8 * 1024] == uf2.image(uf2.parse(fw), cfg.flash_base_address, 8 * 1024)
    part = bytes(flash[cfg.filesystem.offset : cfg.filesystem.offset + cfg.filesystem.size])
    assert part == fs
    assert fsimage.read_image(part, cfg)["main.py"] == b"print('hi')\n"


def test_rp2350_erratum_block_is_kept_first() -> None:
    cfg = boards.load("pico2_w")
    fw = uf2.pack([(0x10FFFF00, b"\xef" * 256)], uf2.FAMILY_ABSOLUTE) + rp2_firmware(cfg)
    firmware.check_firmware(fw, cfg, "fw.uf2")
    out = uf2.parse(firmware.combine(cfg, fw, bytes(cfg.filesystem.size)))
    assert out[0].family == uf2.FAMILY_ABSOLUTE and out[0].num_blocks == 1
    assert {b.family for b in out[1:]} == {cfg.uf2_family_id}
    with pytest.raises(FirmwareError, match="a UF2 for family 0xe48bff57"):
        firmware.check_firmware(fw, boards.load("pico_w"), "fw.uf2")


def test_filesystem_of_the_wrong_size_is_refused() -> None:
    cfg = boards.load("pico_w")
    with pytest.raises(FirmwareError, match="needs 868352"):
        firmware.combine(cfg, rp2_firmware(cfg), b"\xff" * 4096)


# -- detection ---------------------------------------------------------------------


def test_boards_are_found_by_usb_ids() -> None:
    listing = [
        Port("/dev/ttyACM0", 0x2E8A, 0x0005),  # MicroPython on an RP2: either Pico
        Port("/dev/ttyACM1", 0x303A, 0x1001),  # Espressif USB-Serial/JTAG: the S3
        Port("/dev/ttyUSB0", 0x1A86, 0x7523),  # CH340 bridge: only the generic ESP32
        Port("/dev/ttyUSB1", 0x10C4, 0xEA60),  # CP210x: either ESP32 board
        Port("/dev/ttyS0", None, None),
        Port("/dev/ttyUSB9", 0x1234, 0x5678),
    ]
    got = {f.device: f.boards for f in targets.detect(listing)}
    assert got == {
        "/dev/ttyACM0": ("pico2_w", "pico_w"),
        "/dev/ttyACM1": ("esp32s3",),
        "/dev/ttyUSB0": ("esp32",),
        "/dev/ttyUSB1": ("esp32", "esp32s3"),
    }
    assert [f.device for f in targets.detect(listing, board="esp32")] == ["/dev/ttyUSB0", "/dev/ttyUSB1"]


def _drive(root: Path, label: str, board_id: str | None = None) -> Path:
    d = root / label
    d.mkdir(parents=True)
    (d / "INFO_UF2.TXT").write_text(f"UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: {board_id or label}\n")
    return d


def test_bootsel_drive_found_by_label_and_written(tmp_path: Path) -> None:
    cfg = boards.load("pico_w")
    _drive(tmp_path / "a", "RP2350")  # a Pico 2 W's drive: not this board's
    _drive(tmp_path / "b", "RPI-RP2", board_id="SOMETHING-ELSE")
    roots = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    with pytest.raises(FlashError, match="no RPI-RP2 drive is mounted: hold the BOOTSEL button"):
        targets.flash_rp2(rp2_firmware(cfg), cfg, roots=roots)
    drive = _drive(tmp_path / "c", "RPI-RP2")
    image = firmware.combine(cfg, rp2_firmware(cfg), bytes(cfg.filesystem.size))
    seen: list[tuple[int, int]] = []
    where = targets.flash_rp2(image, cfg, roots=roots, progress=lambda d, t: seen.append((d, t)))
    assert Path(where).parent == drive and Path(where).read_bytes() == image
    assert seen[-1] == (len(image), len(image))
    assert targets.find_bootsel(boards.load("pico2_w"), roots) == [tmp_path / "a" / "RP2350"]


def test_bootsel_refuses_an_image_for_another_chip(tmp_path: Path) -> None:
    cfg = boards.load("pico_w")
    drive = _drive(tmp_path, "RPI-RP2")
    with pytest.raises(FirmwareError, match="another chip"):
        targets.flash_rp2(rp2_firmware(boards.load("pico2_w")), cfg, roots=[tmp_path])
    assert not list(drive.glob("*.uf2"))


def test_a_drive_that_vanishes_midway_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = boards.load("pico_w")
    _drive(tmp_path, "RPI-RP2")
    real_fsync = os.fsync

    def gone(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", gone)
    with pytest.raises(FlashError, match="partly written firmware: unplug it, hold BOOTSEL"):
        targets.flash_rp2(rp2_firmware(cfg), cfg, roots=[tmp_path])
    monkeypatch.setattr(os, "fsync", real_fsync)


# -- ESP32 through esptool's API (a stand-in for the chip) ---------------------


class _FakeEsp:
    def __init__(self, chip: str) -> None:
        self.CHIP_NAME = chip
        self._port = self
        self.closed = False

    def close(self) -> None:
        self.closed = True


def _fake_cmds(monkeypatch: pytest.MonkeyPatch, chip: str, fail_at: str | None = None) -> list[Any]:
    from esptool import cmds

    calls: list[Any] = []
    esp = _FakeEsp(chip)

    def rec(name: str, result: Callable[..., Any] = lambda *a, **k: None) -> Callable[..., Any]:
        def f(*a: Any, **k: Any) -> Any:
            calls.append((name, a[1:] if a and a[0] is esp else a))
            if name == fail_at:
                raise OSError(5, "device reports readiness to read but returned no data")
            return result(*a, **k)

        return f

    monkeypatch.setattr(cmds, "detect_chip", rec("detect_chip", lambda *a, **k: esp))
    monkeypatch.setattr(cmds, "run_stub", rec("run_stub", lambda e: e))
    for n in ("attach_flash", "erase_flash", "write_flash", "verify_flash", "reset_chip"):
        monkeypatch.setattr(cmds, n, rec(n))
    calls.append(esp)
    return calls


def test_esp32_write_goes_through_esptool_api_at_the_firmware_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = boards.load("esp32")
    calls = _fake_cmds(monkeypatch, "ESP32")
    fw = esp_firmware(cfg)
    assert targets.flash_esp32("/dev/ttyUSB0", fw, cfg) == "ESP32"
    names = [c[0] for c in calls[1:]]
    assert names == ["detect_chip", "run_stub", "attach_flash", "write_flash", "verify_flash", "reset_chip"]
    assert calls[4][1] == ([(0x1000, fw)],) and calls[5][1] == ([(0x1000, fw)],)
    assert calls[0].closed


def test_esp32_wrong_chip_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_cmds(monkeypatch, "ESP32-S3")
    with pytest.raises(FlashError, match=r"found an ESP32-S3, but board esp32 is an esp32.*nothing was written"):
        targets.flash_esp32("/dev/ttyUSB0", b"\xe9" * 64, boards.load("esp32"))
    assert "write_flash" not in [c[0] for c in calls[1:]]


def test_esp32_port_that_vanishes_midway_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_cmds(monkeypatch, "ESP32", fail_at="write_flash")
    with pytest.raises(FlashError, match=r"esptool stopped: .*partly written image: hold BOOT"):
        targets.flash_esp32("/dev/ttyUSB0", b"\xe9" * 64, boards.load("esp32"))


def test_esp32_missing_port_is_a_clear_error() -> None:
    # the real esptool: opening the port fails at once
    with pytest.raises(FlashError, match="Could not open /dev/sbd-no-such-port"):
        targets.flash_esp32("/dev/sbd-no-such-port", b"\xe9" * 64, boards.load("esp32"))


def test_image_larger_than_flash_is_refused_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_cmds(monkeypatch, "ESP32")
    cfg = boards.load("esp32")
    with pytest.raises(FirmwareError, match="do not fit"):
        targets.flash_esp32("/dev/ttyUSB0", bytes(cfg.flash_size), cfg, address=0x1000)
    assert len(calls) == 1


def test_one_failing_board_never_stops_the_others() -> None:
    def one(t: str) -> str:
        if t == "bad":
            raise FlashError("bad: esptool stopped")
        if t == "bug":
            raise KeyError("x")
        return f"{t} done"

    got = targets.flash_many(["a", "bad", "bug", "b"], one, jobs=2)
    assert [(r.target, r.ok) for r in got] == [("a", True), ("bad", False), ("bug", False), ("b", True)]
    assert "internal error: KeyError" in got[2].detail


@pytest.mark.hardware
def test_flash_a_real_esp32(tmp_path: Path) -> None:
    port, board = os.environ.get("SBD_BOARD_PORT"), os.environ.get("SBD_BOARD", "esp32")
    fw = os.environ.get("SBD_FIRMWARE")
    if not port or not fw or boards.load(board).family != "esp32":
        pytest.skip("needs SBD_BOARD_PORT, SBD_BOARD (an ESP32 board) and SBD_FIRMWARE")
    cfg = boards.load(board)
    data = Path(fw).read_bytes()
    firmware.check_firmware(data, cfg, fw)
    assert targets.flash_esp32(port, data, cfg)


# -- the CLI ---------------------------------------------------------------------


def _sbd(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from sbdtools import cli

    with pytest.raises(SystemExit) as e:
        cli.main(list(args))
    got = capsys.readouterr()
    return int(e.value.code or 0), got.out, got.err


def test_cli_writes_an_allowed_uf2_to_the_bootsel_drive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = boards.load("pico_w")
    fw = write(tmp_path / "fw.uf2", rp2_firmware(cfg))
    drive = _drive(tmp_path / "media", "RPI-RP2")
    allow = tmp_path / "allow.txt"
    base = ("flash", "--board", "pico_w", "--firmware", str(fw), "--allow-list", str(allow))
    base += ("--drive-root", str(tmp_path / "media"))
    code, _, err = _sbd(capsys, *base)
    assert code == 1 and "sbd: " in err and "sbd flash allow" in err and not list(drive.glob("*.uf2"))
    assert _sbd(capsys, "flash", "allow", str(fw), "--allow-list", str(allow))[0] == 0
    code, out, err = _sbd(capsys, *base)
    assert code == 0, err
    assert "written to" in out and (drive / "sbd.uf2").read_bytes() == fw.read_bytes()
    code, _, err = _sbd(capsys, "flash", "--board", "pico2_w", *base[3:])
    assert code == 1 and "a UF2 for RP2040, but board pico2_w" in err


def test_cli_several_esp32_boards_one_failing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from esptool import cmds

    cfg = boards.load("esp32")
    fw = write(tmp_path / "fw.bin", esp_firmware(cfg))
    allow = tmp_path / "allow.txt"
    firmware.allow(allow, fw)
    written: list[str] = []

    class Esp(_FakeEsp):
        def __init__(self, port: str) -> None:
            super().__init__("ESP32")
            self.port = port

    def detect_chip(port: str, *a: Any, **k: Any) -> Esp:
        if port == "/dev/ttyUSB1":
            raise OSError(2, "could not open port /dev/ttyUSB1")
        return Esp(port)

    monkeypatch.setattr(cmds, "detect_chip", detect_chip)
    monkeypatch.setattr(cmds, "run_stub", lambda e: e)
    for n in ("attach_flash", "erase_flash", "verify_flash", "reset_chip"):
        monkeypatch.setattr(cmds, n, lambda *a, **k: None)
    monkeypatch.setattr(cmds, "write_flash", lambda esp, pairs, **k: written.append(esp.port))
    # stdout redirection is process-wide: never per thread, or a thread could
    # restore another's capture and leave sbd's own output going nowhere
    import threading

    real_quiet = targets.quiet
    entered: list[bool] = []

    def recording_quiet() -> Any:
        entered.append(threading.current_thread() is threading.main_thread())
        return real_quiet()

    monkeypatch.setattr(targets, "quiet", recording_quiet)
    ports = ("--ports", "/dev/ttyUSB0", "--ports", "/dev/ttyUSB1", "--ports", "/dev/ttyUSB2")
    code, out, err = _sbd(
        capsys, "flash", "--board", "esp32", "--firmware", str(fw), "--allow-list", str(allow), *ports
    )
    assert code == 1 and "1 of 3 boards failed" in err
    assert sorted(written) == ["/dev/ttyUSB0", "/dev/ttyUSB2"]
    assert "/dev/ttyUSB1: FAILED: /dev/ttyUSB1: esptool stopped" in out
    assert out.count("ok, ESP32") == 2
    assert entered == [True]


@pytest.mark.parametrize("board", ["esp32", "pico2_w"])
def test_device_image_is_checked_before_it_is_written(tmp_path: Path, board: str) -> None:
    cfg = boards.load(board)
    fw = esp_firmware(cfg) if cfg.family == "esp32" else rp2_firmware(cfg)
    image = firmware.combine(cfg, fw, _fs_image(tmp_path, cfg))
    firmware.check_image(image, cfg, "dev")
    broken = firmware.combine(cfg, fw, bytes(cfg.filesystem.size))  # a filesystem part that does not mount
    with pytest.raises(FirmwareError, match="its filesystem part does not mount"):
        firmware.check_image(broken, cfg, "dev")
    other = boards.load("esp32s3" if cfg.family == "esp32" else "pico_w")
    with pytest.raises(FirmwareError):
        firmware.check_image(image, other, "dev")


def test_cli_writes_a_device_image_at_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = boards.load("esp32")
    image = write(tmp_path / "dev.bin", firmware.combine(cfg, esp_firmware(cfg), _fs_image(tmp_path, cfg)))
    calls = _fake_cmds(monkeypatch, "ESP32")
    code, out, err = _sbd(capsys, "flash", "--board", "esp32", "--image", str(image), "--port", "/dev/ttyUSB0")
    assert code == 0, err
    writes = [c[1] for c in calls[1:] if c[0] == "write_flash"]
    assert writes == [([(0, image.read_bytes())],)] and "written at 0x0 and verified" in out
