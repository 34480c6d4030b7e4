"""`sbd creds` against a virtual board, as a user runs it: the value read
from stdin or a no-echo prompt reaches the board's store, never a command
line, the terminal or the board's answer; `list` shows names only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from harness.vboards import SdkBoard
from sbdtools import credstore, station
from sbdtools.commands import creds as creds_cmd

SBD = str(Path(sys.executable).parent / "sbd")
SECRET = "Vq8-secret-T0ken-7d1f"


def _sbd(*args: str, stdin: str = "", ok: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([SBD, *args], input=stdin, capture_output=True, text=True, env=os.environ, timeout=120)
    if ok:
        assert r.returncode == 0, f"sbd {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def test_set_list_rm_on_a_virtual_board(sdk_board: SdkBoard) -> None:
    sdk_board.provision("not-used-here")
    name = sdk_board.name
    r = _sbd("creds", "set", "api.token", "--vboard", name, "--stdin", stdin=SECRET + "\n")
    assert SECRET not in r.stdout + r.stderr
    _sbd("creds", "set", "wifi", "--vboard", name, "--stdin", stdin="other-value")
    listed = _sbd("creds", "list", "--vboard", name).stdout
    assert listed.split() == ["api.token", "wifi"] and SECRET not in listed
    out = sdk_board.exec("from sbd import creds\nprint('GOT', creds.get('api.token').decode())").output
    assert f"GOT {SECRET}\n" in out.replace("\r", ""), "the trailing newline was dropped, the value kept"
    _sbd("creds", "rm", "wifi", "--vboard", name)
    assert _sbd("creds", "list", "--vboard", name).stdout.split() == ["api.token"]
    gone = _sbd("creds", "rm", "wifi", "--vboard", name, ok=False)
    assert gone.returncode == 1 and "NotFound" in gone.stderr, gone.stderr
    bad = _sbd("creds", "set", "bad name", "--vboard", name, "--stdin", stdin="x", ok=False)
    assert "A-Z a-z 0-9" in bad.stderr
    _sbd("creds", "wipe", "--vboard", name, "--yes")
    assert _sbd("creds", "list", "--vboard", name).stdout.split() == []


def test_a_board_without_a_record_says_what_to_do(sdk_board: SdkBoard) -> None:
    r = _sbd("creds", "list", "--vboard", sdk_board.name, ok=False)
    assert "NotProvisioned" in r.stderr and "sbd provision" in r.stderr, r.stderr


class Spy:
    """A Link whose mpremote is a spy: records argv and the script file."""

    name = "spy"

    def __init__(self, answer: str = '{"ok": true}') -> None:
        self.argv: list[list[str]] = []
        self.scripts: list[tuple[int, str]] = []
        self.answer = answer

    def fake_run(self, argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        path = argv[-1]
        self.argv.append(list(argv))
        self.scripts.append((stat.S_IMODE(os.stat(path).st_mode), Path(path).read_text()))
        return subprocess.CompletedProcess(argv, 0, f"@@SBD-RESULT {self.answer}\n", "")


def test_the_value_is_never_in_argv_and_its_file_is_private(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy()
    monkeypatch.setattr(station.subprocess, "run", spy.fake_run)
    monkeypatch.setattr(station, "require_tool", lambda name: "/usr/bin/" + name)
    link = station.Link("spy", "/dev/ttyFAKE", None, None)  # type: ignore[arg-type]
    credstore.set_value(link, "wifi", SECRET.encode())
    (argv,), ((mode, script),) = spy.argv, spy.scripts
    assert all(SECRET not in a and SECRET.encode().hex() not in a for a in argv)
    assert mode == 0o600 and SECRET.encode().hex() in script
    assert not Path(argv[-1]).exists(), "the script file is removed"
    assert all(SECRET not in v for v in os.environ.values())


def test_the_prompt_does_not_echo(monkeypatch: pytest.MonkeyPatch) -> None:
    got: list[bytes] = []
    monkeypatch.setattr(credstore, "set_value", lambda link, name, value: got.append(value))

    class NoLink:
        def close(self) -> None:
            pass

    monkeypatch.setattr(station, "serial_link", lambda port, board: NoLink())
    res = CliRunner().invoke(creds_cmd.cli, ["set", "wifi", "--port", "/dev/x"], input=f"{SECRET}\n{SECRET}\n")
    assert res.exit_code == 0, res.output
    assert got == [SECRET.encode()] and SECRET not in res.output
    mismatch = CliRunner().invoke(creds_cmd.cli, ["set", "wifi", "--port", "/dev/x"], input=f"{SECRET}\nother\n")
    assert mismatch.exit_code != 0 and got == [SECRET.encode()]


def test_names_from_the_board_are_checked_before_printing(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy('{"names": ["ok", "\\u001b[2Jevil"]}')
    monkeypatch.setattr(station.subprocess, "run", spy.fake_run)
    monkeypatch.setattr(station, "require_tool", lambda name: "/usr/bin/" + name)
    link = station.Link("spy", "/dev/ttyFAKE", None, None)  # type: ignore[arg-type]
    with pytest.raises(credstore.CredsError, match="not a list of names"):
        credstore.list_names(link)
