"""The virtual board on a pty, driven by the real mpremote."""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import subprocess
import sys
import termios
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import put

from sbdtools.vboard import serial, store

MPREMOTE = str(Path(sys.executable).parent / "mpremote")


def mpr(port: str, *args: str, resume: bool = True, timeout: float = 60) -> str:
    cmd = [MPREMOTE, "connect", port, *(["resume"] if resume else []), *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.fixture
def served(make_board) -> Iterator[tuple[store.VBoard, str]]:
    vb = make_board("pico_w")
    put(vb, "boot.py", "print('BOOT-PY')\n")
    port = serial.start_background(vb)
    try:
        yield vb, port
    finally:
        serial.stop_background(vb)


def test_mpremote_lists_copies_and_runs(served, tmp_path: Path) -> None:
    vb, port = served
    assert "boot.py" in mpr(port, "fs", "ls")
    app = tmp_path / "hello.py"
    app.write_text("def hi():\n    return 'hi from the board'\n")
    mpr(port, "fs", "cp", str(app), ":hello.py")
    assert "hello.py" in mpr(port, "fs", "ls")
    assert "return 'hi from the board'" in mpr(port, "fs", "cat", "hello.py")
    assert "hi from the board" in mpr(port, "exec", "import hello; print(hello.hi())")
    script = tmp_path / "script.py"
    script.write_text("import machine\nprint('UID', machine.unique_id().hex())\n")
    assert f"UID {vb.uid.hex()}" in mpr(port, "run", str(script))


def test_binary_copy_both_ways_is_exact(served, tmp_path: Path) -> None:
    _, port = served
    blob = bytes((i * 7 + 3) % 256 for i in range(40_000))
    (tmp_path / "blob.bin").write_bytes(blob)
    mpr(port, "fs", "cp", str(tmp_path / "blob.bin"), ":blob.bin")
    out = mpr(
        port,
        "exec",
        "import hashlib, binascii\nprint(binascii.hexlify(hashlib.sha256(open('blob.bin','rb').read()).digest()))",
    )
    assert hashlib.sha256(blob).hexdigest() in out
    mpr(port, "fs", "cp", ":blob.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == blob


def test_soft_reset_without_resume_reruns_boot_py(make_board) -> None:
    vb = make_board("pico_w")
    put(
        vb,
        "boot.py",
        "n = 0\ntry:\n    n = int(open('count').read())\nexcept OSError:\n    pass\n"
        "with open('count', 'w') as f:\n    f.write(str(n + 1))\n",
    )
    port = serial.start_background(vb)
    try:
        before = int(mpr(port, "exec", "print(open('count').read())").split()[0])
        boots = vb.state()["boots"]
        out = mpr(port, "exec", "x = 1\nprint('AFTER-RESET', open('count').read())", resume=False)
        assert f"AFTER-RESET {before + 1}" in out, "boot.py ran again on the soft reset"
        assert vb.state()["boots"] == boots + 1, "the soft reset restarted the interpreter"
        # resume keeps the interpreter (x survives); another soft reset does not
        assert mpr(port, "exec", "print(x)").split() == ["1"]
        again = subprocess.run(
            [MPREMOTE, "connect", port, "exec", "print(x)"], capture_output=True, text=True, timeout=60
        )
        assert "NameError" in again.stdout + again.stderr
        # and the board is still there on the same pty
        assert "boot.py" in mpr(port, "fs", "ls")
    finally:
        serial.stop_background(vb)


def test_ctrl_c_interrupts_a_running_main_py(make_board) -> None:
    vb = make_board("pico_w")
    put(vb, "main.py", "import time\nwhile True:\n    time.sleep_ms(5)\n")
    port = serial.start_background(vb)
    try:
        # main.py never returns: mpremote's Ctrl-C must raise KeyboardInterrupt in it.
        assert "STILL-HERE 42" in mpr(port, "exec", "print('STILL-HERE', 6 * 7)")
    finally:
        serial.stop_background(vb)


def test_machine_reset_comes_back_on_the_same_pty(served) -> None:
    vb, port = served
    boots = vb.state()["boots"]
    mpr(port, "exec", "--no-follow", "import machine; machine.reset()")
    out = mpr(port, "exec", "import machine; print('CAUSE', machine.reset_cause())")
    assert "CAUSE 3" in out, "an RP2 reports a watchdog reset after machine.reset()"
    assert vb.state()["boots"] > boots


def test_state_is_shown_and_board_is_exclusive(served) -> None:
    from sbdtools.errors import VBoardError
    from sbdtools.vboard import runner

    vb, port = served
    assert vb.state()["pty"] == port
    with pytest.raises(VBoardError, match="in use on"):
        runner.boot(vb, script="pass")


def _read_until(fd: int, marker: bytes, timeout: float = 30) -> bytes:
    buf = b""
    end = time.monotonic() + timeout
    while marker not in buf:
        left = end - time.monotonic()
        assert left > 0, f"no {marker!r} in {buf[-400:]!r}"
        if select.select([fd], [], [], left)[0]:
            buf += os.read(fd, 4096)
    return buf


@contextlib.contextmanager
def console(vb: store.VBoard) -> Iterator[int]:
    """Serve the board and open its pty raw, as a terminal program would."""
    port = serial.start_background(vb)
    fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield fd
    finally:
        os.close(fd)
        serial.stop_background(vb)


def test_friendly_repl_ctrl_d_soft_reboots_and_reruns_main(make_board) -> None:
    vb = make_board("esp32")
    put(vb, "main.py", "print('MAIN-RAN')\n")
    with console(vb) as fd:
        os.write(fd, b"\r\x03")
        _read_until(fd, b">>> ")
        os.write(fd, b"x = 6 * 7\r")
        os.write(fd, b"print('X', x)\r")
        _read_until(fd, b"X 42")
        os.write(fd, b"\x04")  # Ctrl-D at the friendly prompt: soft reboot
        # Read up to the reboot's own banner and prompt (the prompt printed
        # after "X 42" may still be unread: it must not count).
        out = _read_until(fd, b"MPY: soft reboot")
        out += _read_until(fd, b"for more information.\r\n>>> ")
        assert b"MAIN-RAN" in out, "main.py runs again after a soft reboot"
        assert f"sbd virtual board {vb.name}".encode() in out, "the banner names the emulated board"
        os.write(fd, b"print('X' in dir())\r")
        assert b"False" in _read_until(fd, b"False"), "a soft reboot starts a fresh interpreter"


def test_ctrl_c_during_start_up_cannot_break_the_firmware(make_board) -> None:
    vb = make_board("pico_w")
    put(vb, "main.py", "print('MAIN-RAN')\n")
    with console(vb) as fd:
        os.write(fd, b"\x03" * 20)  # while the ROM mounts the filesystem
        _read_until(fd, b">>> ")
        os.write(fd, b"import os; print('LS', os.listdir('/'))\r")
        assert b"LS ['main.py']" in _read_until(fd, b"LS ['main.py']"), "the filesystem is mounted"


def test_marker_split_never_holds_ordinary_output() -> None:
    m = b"\x00MARK\x00\n"
    assert serial.split_at_marker(b"abc>>> ", m) == (b"abc>>> ", b"", False)
    assert serial.split_at_marker(b"abc\x00MA", m) == (b"abc", b"\x00MA", False)
    assert serial.split_at_marker(b"abc\x00MARK\x00\nrest", m) == (b"abc", b"rest", True)
    assert serial.split_at_marker(b"a\x00b", m) == (b"a\x00b", b"", False)
    # split right after the marker's own second NUL (seen on a real run)
    assert serial.split_at_marker(b"\x00MARK\x00", m) == (b"", b"\x00MARK\x00", False)
    # every split point of marker + text joins up again
    whole = b"boot\x00MARK\x00\nafter"
    for cut in range(len(whole) + 1):
        out, keep, found = serial.split_at_marker(whole[:cut], m)
        if not found:
            out2, rest, found = serial.split_at_marker(keep + whole[cut:], m)
            out += out2
        else:
            rest = keep + whole[cut:]
        assert found and out == b"boot" and rest == b"after", cut


def _wait_stopped(vb: store.VBoard, limit: float = 60) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if not vb.state():
            return True
        time.sleep(0.05)
    return False


def test_server_started_for_a_job_stops_when_the_job_dies(make_board) -> None:
    vb = make_board("pico_w")
    # A short-lived "job" (like a deploy killed half-way) starts a tied server, then dies.
    code = (
        "from sbdtools.vboard import store, serial; "
        f"print(serial.start_background(store.get({vb.name!r}), tied_to_caller=True))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("/dev/pts/"), out.stderr
    assert _wait_stopped(vb), "the server outlived the job that started it"


def test_server_stops_when_its_board_is_removed_from_under_it(make_board) -> None:
    import shutil

    vb = make_board("pico_w")
    serial.start_background(vb)
    pid = vb.state()["pid"]
    shutil.rmtree(vb.dir)  # e.g. a test's temporary folder cleaned up
    end = time.monotonic() + 60
    while time.monotonic() < end:
        # The server is our child (start_background spawned it): reap it.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    raise AssertionError("the server kept running after its board was removed")


def test_ctrl_c_reaches_a_hung_boot_py_after_a_raw_soft_reboot(make_board) -> None:
    vb = make_board("pico_w")
    put(vb, "boot.py", "import time\nwhile True:\n    time.sleep_ms(5)\n")
    port = serial.start_background(vb)
    try:
        # A soft reboot from the raw REPL runs boot.py, which never returns:
        # as with a board, the raw prompt never comes (mpremote waits for it forever).
        with pytest.raises(subprocess.TimeoutExpired):
            subprocess.run([MPREMOTE, "connect", port, "exec", "print(1)"], capture_output=True, timeout=10)
        # mpremote's Ctrl-C must still interrupt boot.py and reach the REPL.
        assert "REACHED" in mpr(port, "exec", "print('REACHED')")
    finally:
        serial.stop_background(vb)


def test_a_stale_state_file_is_not_believed(make_board) -> None:
    import json

    vb = make_board("pico_w")
    # A server SIGKILLed long ago left its state; its pid now belongs to someone else.
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        vb.state_file.write_text(json.dumps({"pid": bystander.pid, "pty": "/dev/pts/99", "status": "running"}))
        assert vb.state() == {}, "no server holds the board's lock: the file is stale"
        assert serial.stop_background(vb) is False
        assert bystander.poll() is None, "stop must not signal an unrelated process"
    finally:
        bystander.kill()
        bystander.wait()


# A server that has deleted its state file but not yet let go of the lock
# (what serve_forever does as it ends; under load the gap can last): stop
# must return only once the board can be held again, or a station's next
# step finds it "in use".
_SLOW_LETGO = r"""
import fcntl, json, os, signal, sys, time
lock, state = sys.argv[1], sys.argv[2]
fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
with open(state, "w") as f:
    json.dump({"pid": os.getpid(), "pty": "/dev/pts/98", "status": "running"}, f)
while not stop:
    time.sleep(0.01)
os.unlink(state)
time.sleep(1.0)
os.close(fd)
"""


def test_stop_returns_only_when_the_board_can_be_held_again(make_board) -> None:
    vb = make_board("pico_w")
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_LETGO, str(vb.lock_file), str(vb.state_file)])
    try:
        deadline = time.monotonic() + 30
        while not vb.state() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert vb.state().get("pty") == "/dev/pts/98"
        assert serial.stop_background(vb) is True
        with vb.locked():  # raises "in use" when stop returned too early
            pass
    finally:
        proc.kill()
        proc.wait()


def test_sys_exit_at_the_repl_is_a_soft_reset(served) -> None:
    vb, port = served
    boots = vb.state()["boots"]
    mpr(port, "exec", "--no-follow", "import sys; sys.exit(3)")
    out = mpr(port, "exec", "import machine; print('CAUSE', machine.reset_cause())")
    assert "CAUSE 1" in out, "a soft reset keeps the reset cause (power-on here)"
    assert vb.state()["boots"] == boots + 1


def test_last_words_before_a_reset_reach_the_host(make_board) -> None:
    vb = make_board("pico_w")
    put(vb, "main.py", "print('LAST-WORDS')\nimport machine\nmachine.reset()\n")
    with console(vb) as fd:
        assert b"LAST-WORDS" in _read_until(fd, b"LAST-WORDS")


def test_a_halted_esp32_prints_its_warning_and_ctrl_c_reaches_the_repl(make_board) -> None:
    # micropython ports/esp32/modules/inisetup.py:18-34: the halt loop allows Ctrl-C
    # (micropython.kbd_intr(3)); ports/esp32/main.c:154-183 then goes on to boot.py and the REPL.
    vb = make_board("esp32")
    put(vb, "keep.txt", "data")
    fs = vb.board.filesystem
    with open(vb.image, "r+b") as f:
        f.seek(fs.offset)
        f.write(b"\x55" * 8192)
    before = vb.image.read_bytes()[fs.offset : fs.offset + fs.size]
    with console(vb) as fd:
        _read_until(fd, b"filesystem appears to be corrupted")
        os.write(fd, b"\x03")
        _read_until(fd, b">>> ")
        os.write(fd, b"import os; print('LS', os.listdir('/'))\r")
        assert b"LS []" in _read_until(fd, b"LS []"), "nothing is mounted"
    assert vb.image.read_bytes()[fs.offset : fs.offset + fs.size] == before, "the data is intact"
