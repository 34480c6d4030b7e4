"""`sbd doctor --device` on virtual boards, locked down and not."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from click.testing import CliRunner
from tests.harness.vboards import SdkBoard

from sbdtools.commands.doctor import cli
from sbdtools.vboard import serial

LOCKED = {
    "boot.py": "from sbd import lockdown\nlockdown.apply(lockdown.PRODUCTION)\n",
    "main.py": "from sbd import lockdown\n\n\ndef main():\n    pass\n\n\nlockdown.run(main)\n",
}


def _doctor(*args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    r = CliRunner().invoke(cli, ["--device", "--json", *args])
    return r.exit_code, {c["name"]: c for c in json.loads(r.output)}


def test_a_board_that_is_not_locked_down(make_sdk_board: Callable[..., SdkBoard]) -> None:
    make_sdk_board(name="open1")
    rc, c = _doctor("--vboard", "open1")
    assert rc == 0, c  # warnings only
    assert c["device"]["status"] == "ok" and "family rp2" in c["device"]["detail"]
    assert "mpy v6.3, arch x64" in c["device"]["detail"] and "virtual board" in c["device"]["detail"]
    assert c["device mpy"]["status"] == "ok"
    assert c["device heap"]["status"] == "ok" and "bytes free" in c["device heap"]["detail"]
    assert c["device flash"]["status"] == "ok"
    assert c["device sdk"]["status"] == "ok"
    assert c["lock-down"]["status"] == "warn" and "lockdown.apply(lockdown.PRODUCTION)" in c["lock-down"]["hint"]
    assert c["REPL fallback"]["status"] == "warn" and "no main.py" in c["REPL fallback"]["detail"]
    assert c["factory record"]["status"] == "warn" and "sbd provision" in c["factory record"]["hint"]
    rc, c = _doctor("--vboard", "open1", "--production")
    assert rc == 1 and c["lock-down"]["status"] == "fail" and c["REPL fallback"]["status"] == "fail"


def test_a_locked_down_provisioned_board(make_sdk_board: Callable[..., SdkBoard]) -> None:
    board = make_sdk_board(name="shut1", files=LOCKED)
    board.provision("correct horse")
    rc, c = _doctor("--vboard", "shut1", "--production")
    assert rc == 0, c
    assert all(v["status"] == "ok" for v in c.values()), c
    assert "production profile applied" in c["lock-down"]["detail"]
    assert "lockdown.run" in c["REPL fallback"]["detail"]
    assert c["factory record"]["detail"] == "serial SBD-1"
    # a WebREPL password file on the board undoes it
    board.exec("open('/webrepl_cfg.py', 'w').write(\"PASS = 'x'\\n\")\n")
    rc, c = _doctor("--vboard", "shut1", "--production")
    assert rc == 1 and "webrepl_cfg.py present" in c["lock-down"]["detail"]


def test_a_damaged_record_over_the_port(make_sdk_board: Callable[..., SdkBoard]) -> None:
    board = make_sdk_board(name="port1")
    board.provision("correct horse")
    board.exec("f = open('/.sbd/factory/identity.bin', 'r+b')\nf.seek(40)\nf.write(b'\\xff')\nf.close()\n")
    port = serial.start_background(board.vb, tied_to_caller=True)
    try:
        rc, c = _doctor("--port", port)
    finally:
        serial.stop_background(board.vb)
    assert rc == 1
    assert c["device"]["detail"].startswith(port)
    assert c["factory record"]["status"] == "fail" and "--reprovision" in c["factory record"]["hint"]


def test_device_options_go_together() -> None:
    r = CliRunner().invoke(cli, ["--device"])
    assert r.exit_code != 0 and "--vboard NAME or --port PORT" in r.output
    r = CliRunner().invoke(cli, ["--production"])
    assert r.exit_code != 0 and "go with --device" in r.output
