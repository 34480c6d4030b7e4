"""The `sbd` command as a user runs it: help, errors, and the main flows."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SBD = str(Path(sys.executable).parent / "sbd")


def sbd(*args: str, home: Path, ok: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SBD_HOME": str(home)}
    r = subprocess.run([SBD, *args], capture_output=True, text=True, env=env, timeout=timeout)
    if ok:
        assert r.returncode == 0, f"sbd {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_help_explains_the_commands(home: Path) -> None:
    out = sbd("--help", home=home).stdout
    for cmd in ("demo", "deploy", "doctor", "fsimage", "vboard"):
        assert cmd in out
    vb = sbd("vboard", "--help", home=home).stdout
    assert "mpremote connect /dev/pts/N resume fs ls" in vb
    assert "--cut-at" in sbd("vboard", "exec", "--help", home=home).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("vboard", "new", "b1", "--board", "nosuch"), "'nosuch' is not one of 'esp32', 'esp32s3', 'pico2_w'"),
        (("vboard", "new", "b1", "--board", "/tmp/x.json"), "is not one of"),
        (("vboard", "exec", "b1", "-f", "/dev/zero"), "/dev/zero: not a regular file"),
        (("vboard", "run", "b1", "--timeout", "nan"), "Invalid value for '--timeout'"),
        (("vboard", "new", "Bad Name"), "bad board name 'Bad Name'"),
        (("vboard", "run", "ghost"), "no virtual board named 'ghost'; create it with `sbd vboard new ghost"),
        (("vboard", "new", "b1", "--uid", "zz"), "--uid must be hex digits"),
        (("vboard", "new", "b1", "--uid", "0011"), "a pico_w unique id is 8 bytes, got 2"),
        (("deploy", "--app", "examples/minimal"), "give either --port (a real board) or --vboard"),
    ],
)
def test_errors_are_one_line_with_what_to_do(home: Path, args: tuple[str, ...], message: str) -> None:
    r = sbd(*args, home=home, ok=False)
    assert r.returncode != 0
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_exec_file_must_be_utf8_text(home: Path, tmp_path: Path) -> None:
    sbd("vboard", "new", "u1", home=home)
    bad = tmp_path / "bad.py"
    bad.write_bytes(b"print('\xff')\n")
    r = sbd("vboard", "exec", "u1", "-f", str(bad), home=home, ok=False)
    assert "not UTF-8 text" in r.stderr and "Traceback" not in r.stderr


def test_vboard_lifecycle_from_the_cli(home: Path, tmp_path: Path) -> None:
    out = sbd("vboard", "new", "b1", "--board", "pico_w", "--uid", "0102030405060708", home=home).stdout
    assert "unique id 0102030405060708" in out
    dup = sbd("vboard", "new", "b1", home=home, ok=False)
    assert "already exists" in dup.stderr and "--force" in dup.stderr
    r = sbd("vboard", "exec", "b1", "import machine; print(machine.unique_id().hex())", home=home)
    assert "0102030405060708" in r.stdout
    assert "formatted" in r.stderr, "the first boot says it formatted the blank flash"
    script = tmp_path / "w.py"
    script.write_text("with open('x.txt', 'w') as f:\n    f.write('x' * 5000)\nprint('WROTE')\n")
    cut = sbd("vboard", "exec", "b1", "-f", str(script), "--cut-at", "1", home=home, ok=False)
    assert cut.returncode == 1
    assert "virtual board b1 lost power" in cut.stderr
    assert "WROTE" not in cut.stdout
    assert "b1" in sbd("vboard", "ls", home=home).stdout
    sbd("vboard", "rm", "b1", home=home)
    assert "b1" not in sbd("vboard", "ls", home=home).stdout


def test_serial_then_mpremote_then_stop(home: Path) -> None:
    sbd("vboard", "new", "s1", home=home)
    port = sbd("vboard", "serial", "s1", home=home).stdout.strip().splitlines()[0]
    try:
        assert port.startswith("/dev/pts/")
        assert f"serving on {port}" in sbd("vboard", "ls", home=home).stdout
        mp = subprocess.run(
            [str(Path(sys.executable).parent / "mpremote"), "connect", port, "resume", "exec", "print('via mpremote')"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "via mpremote" in mp.stdout, mp.stderr
        busy = sbd("vboard", "run", "s1", home=home, ok=False)
        assert f"is in use on {port}" in busy.stderr
    finally:
        sbd("vboard", "stop", "s1", home=home)
    assert "off" in sbd("vboard", "ls", home=home).stdout


def test_fsimage_build_list_extract(home: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "main.py").write_text("print('hi')\n")
    img = tmp_path / "fs.img"
    assert "bytes for pico_w" in sbd("fsimage", "build", str(src), str(img), "--board", "pico_w", home=home).stdout
    assert "main.py" in sbd("fsimage", "ls", str(img), "--board", "pico_w", home=home).stdout
    sbd("fsimage", "extract", str(img), str(tmp_path / "out"), "--board", "pico_w", home=home)
    assert (tmp_path / "out" / "main.py").read_text() == "print('hi')\n"


def _at(lines: list[str], i: int) -> str:
    # A line taken as it is (a telemetry line's timing varies), or a marker
    # that fails the comparison and shows the whole list, never an IndexError.
    return lines[i] if i < len(lines) else "<missing>"


def _demo_story(r: subprocess.CompletedProcess[str], name: str, home: Path) -> None:
    """The narrated output of one whole `sbd demo` run."""
    assert f"[1/10] creating virtual board {name!r} (pico_w)" in r.stderr
    assert r.stdout.count("sbd 0.1.0 minimal example: factory copy 1.0.0") == 2, r.stdout
    assert "[3/10] deploying" in r.stderr and "[4/10] provisioning" in r.stderr
    m = re.search(r"serial (DEMO-\d+); password (\S+)", r.stderr)
    assert m, r.stderr
    serial, password = m.groups()
    assert f"serial:       {serial} (sbd demo sensor" in r.stdout
    assert (home / "vboards" / name / "factory" / "labels" / f"{serial}.png").is_file()
    logins = [ln.split("password ", 1)[1] for ln in r.stdout.splitlines() if "password '" in ln]
    assert [ln.split()[1] for ln in logins] == ["accepted", "REFUSED", "REFUSED", "REFUSED", "accepted"]
    assert logins[0].startswith(repr(password[:5] + "..."))
    tele = [json.loads(ln.split("telemetry ", 1)[1]) for ln in r.stdout.splitlines() if "telemetry {" in ln]
    names = [e["ev"] for e in tele]
    assert "auth.failure" in names and "auth.lockout" in names and "security.alert" not in names, names
    assert password not in r.stdout.split("telemetry", 1)[1], "the password in the telemetry stream"
    # The back-off is 1000 ms from the third failure; what is left when the
    # next try comes depends on how busy the machine is (it read 989 ms on a
    # loaded 2-core host), so the figure is bounded, not matched exactly.
    locked = re.search(r"locked: wait (\d+) ms", r.stdout)
    assert locked and 0 < int(locked.group(1)) <= 1000, r.stdout
    # Step 7: env_sensor's page over HTTP, behind the same password.
    page = r.stderr.split("[7/10]", 1)[1].split("[8/10]", 1)[0]
    assert re.search(r"wrong password\n\s+-> 401 Unauthorized", page), page
    assert "-> 303 See Other, Set-Cookie: sid=<random>; HttpOnly; SameSite=Strict" in page
    assert "env_sensor: stopped" in r.stdout
    # Step 8: the repository made by the real commands, served over HTTP.
    publish = r.stderr.split("[8/10]", 1)[1].split("[9/10]", 1)[0]
    for cmd in (
        "$ sbd keys new keys/root.key",
        "$ sbd ota init repo --root-key keys/root.key.pub",
        "$ sbd ota sign repo --role root --key keys/root.key",
        "$ sbd ota add repo app --board pico_w --product sbd-minimal --version 1.1.0",
        "$ sbd ota sign repo --role timestamp --key keys/timestamp.key",
        "$ sbd ota publish repo",
    ):
        assert cmd in publish, publish
    assert "repo: release 1 (2 files)" in r.stdout
    # Steps 9 and 10 on the board: the minimal example's output, in order.
    board = [
        ln
        for ln in r.stdout.split("wrote update_root.json", 1)[1].splitlines()
        if ln.startswith(("sbd 0.1.0 minimal", "update:", "trial boot:", "      telemetry"))
    ]
    assert board == [
        "sbd 0.1.0 minimal example: factory copy 1.0.0",
        "update:       release 1 (1.1.0) signed and verified; installing into the other slot",
        "update:       release 1 installed in slot a, on trial from the next boot",
        _at(board, 3),
        "sbd 0.1.0 minimal example: release 1 (1.1.0) from slot a",
        "update:       up to date (release 1)",
        "trial boot:   release 1 works: confirmed (security floor now 0)",
        "sbd 0.1.0 minimal example: release 1 (1.1.0) from slot a",
        "update:       release 2 (1.2.0) signed and verified; installing into the other slot",
        "update:       REFUSED (mismatch: target: SHA-256 differs); keeps running the release it has",
        _at(board, 10),
        "sbd 0.1.0 minimal example: release 1 (1.1.0) from slot a",
        "update:       release 2 (1.2.0) signed and verified; installing into the other slot",
        "update:       REFUSED (mismatch: target: SHA-256 differs); keeps running the release it has",
        _at(board, 14),
    ], board
    # The telemetry stream carries the security events of the update.
    events = [json.loads(board[i].split("telemetry ", 1)[1]) for i in (3, 10, 14)]
    assert [(e["ev"], e["f"]) for e in events] == [
        ("ota.installed", {"release": 1}),
        ("ota.rejected", {"reason": "mismatch"}),
        ("ota.rejected", {"reason": "mismatch"}),
    ]
    tampered = r.stderr.split("[10/10]", 1)[1]
    assert "changed one byte of targets/sbd-minimal/pico_w/2/lib/app.mpy" in tampered
    assert "repository: GET /targets/sbd-minimal/pico_w/2/lib/app.mpy -> 200" in tampered
    # The LED blinks, logged by the virtual board.
    assert r.stdout.count("vboard: Pin('LED') on") >= 3
    assert "Traceback" not in r.stdout + r.stderr


def test_demo_deploys_provisions_logs_in_and_updates(home: Path) -> None:
    from sbdtools.commands import demo

    r = sbd("demo", home=home, timeout=300)
    name = demo.default_name()
    _demo_story(r, name, home)
    # Twice in a row: the second run recreates its board and tells the same story.
    again = sbd("demo", home=home, timeout=300)
    _demo_story(again, name, home)


def test_two_checkouts_run_the_demo_at_once(home: Path) -> None:
    """Two checkouts share one SBD_HOME; each drives its own board, at the
    same time, and both tell the whole story."""
    from sbdtools.commands import demo

    mine = demo.default_name()
    other = demo.default_name(Path("/elsewhere/another-checkout/host_tools"))
    assert mine != other and re.fullmatch(r"demo-[0-9a-f]{8}", other)
    env = {**os.environ, "SBD_HOME": str(home)}
    procs = [
        subprocess.Popen([SBD, "demo", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for args in ((), ("--name", other))
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err), name in zip(procs, outs, (mine, other), strict=True):
        assert p.returncode == 0, out + err
        # What concurrency could break: each run on its own board, with its own
        # label and serial, through all ten steps, the update installed and
        # confirmed and the tampered one refused.  The line-by-line story is
        # test_demo's.  (The minimal example's check of the tampered release
        # once ran out of heap here under CI load; the example now frees
        # sbd.identity and its crypto before a check: test_example_minimal.)
        assert f"[1/10] creating virtual board {name!r} (pico_w)" in err, err
        assert all(f"[{n}/10]" in err for n in range(1, 11)), err
        m = re.search(r"serial (DEMO-\d+); password (\S+)", err)
        assert m, err
        assert (home / "vboards" / name / "factory" / "labels" / f"{m.group(1)}.png").is_file()
        assert "trial boot:   release 1 works: confirmed" in out, out
        tamper = out.rsplit("trial boot:   release 1 works: confirmed", 1)[1]
        assert "release 2 installed" not in tamper, out
        assert "sbd 0.1.0 minimal example: release 1 (1.1.0) from slot a" in tamper, out
        assert "update:       REFUSED (mismatch: target: SHA-256 differs)" in tamper, out
        assert '"ev": "ota.installed"' in out, out


def test_a_second_demo_on_the_same_board_waits(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same checkout twice at once: the second says it waits, and
    touches nothing while the first holds the board."""
    from sbdtools.commands import demo

    monkeypatch.setenv("SBD_HOME", str(home))
    env = {**os.environ, "SBD_HOME": str(home)}
    with demo.demo_lock("d9"):
        p = subprocess.Popen(
            [SBD, "demo", "--name", "d9"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert p.stderr is not None
            line = p.stderr.readline()
            assert "waiting for the other demo using board 'd9' to finish" in line, line
            assert not (home / "vboards" / "d9").exists()
            assert p.poll() is None
        finally:
            p.kill()
            p.communicate(timeout=30)
