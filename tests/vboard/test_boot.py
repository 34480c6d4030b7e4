"""Power-on, filesystem, identity and heap of the virtual board."""

from __future__ import annotations

import pytest
from conftest import board_processes, put, run_ok

from sbdtools.vboard import runner, store

BOARDS = ["pico_w", "pico2_w", "esp32", "esp32s3"]


@pytest.mark.parametrize("board", BOARDS)
def test_first_boot_formats_then_files_persist(make_board, board: str) -> None:
    vb = make_board(board)
    first = run_ok(vb, "with open('keep.txt', 'w') as f:\n f.write('kept across power-off')")
    assert first.formatted, "a blank flash gets a filesystem on first boot, as on the ports"
    second = run_ok(vb, "import os\nprint(sorted(os.listdir('/')))\nprint(open('keep.txt').read())")
    assert not second.formatted
    # ESP32's inisetup.setup() writes a boot.py into the new filesystem; rp2's _boot.py does not.
    listing = "['boot.py', 'keep.txt']" if vb.board.family == "esp32" else "['keep.txt']"
    assert listing in second.output
    assert "kept across power-off" in second.output


def test_filesystem_is_littlefs_at_the_boards_offset(make_board) -> None:
    vb = make_board("pico_w")
    run_ok(vb, "with open('f.txt', 'w') as f:\n f.write('x')")
    fs = vb.board.filesystem
    data = vb.image.read_bytes()
    # littlefs2 puts its magic "littlefs" in the superblock of block 0 (and its copy in block 1).
    assert b"littlefs" in data[fs.offset : fs.offset + 2 * fs.block_size]
    assert b"littlefs" not in data[: fs.offset]


def test_boot_py_runs_before_main_py_and_sees_root(make_board) -> None:
    vb = make_board("pico_w")
    put(vb, "boot.py", 'print("boot.py ran")\n')
    put(vb, "main.py", 'import os\nprint("main.py ran in", os.getcwd())\n')
    res = runner.boot(vb)
    assert res.ended == runner.EXIT
    assert res.output.index("boot.py ran") < res.output.index("main.py ran in /")


def test_main_py_exception_is_printed_and_board_goes_on(make_board) -> None:
    vb = make_board("pico_w")
    put(vb, "main.py", 'raise ValueError("app bug")\n')
    res = runner.boot(vb)
    assert res.ended == runner.EXIT
    assert "ValueError: app bug" in res.output


def test_paths_and_imports_look_like_a_board(make_board) -> None:
    vb = make_board("pico_w")
    run_ok(vb, "import os\nos.mkdir('lib')")
    put(vb, "lib/mylib.py", "X = 42\n")
    res = run_ok(vb, "import sys, os, mylib\nprint(sys.path, os.listdir('/'), mylib.X)")
    assert "['', '.frozen', '/lib'] ['lib'] 42" in res.output


def test_each_board_has_its_own_unique_id(make_board) -> None:
    a = make_board("pico_w", name="a")
    b = make_board("pico_w", name="b")
    e = make_board("esp32", name="e")
    assert a.uid != b.uid
    assert (len(a.uid), len(e.uid)) == (8, 6)
    res = run_ok(a, "import machine\nprint(machine.unique_id().hex())")
    assert a.uid.hex() in res.output
    assert store.get("a").uid == a.uid, "the id is stored with the board, not made up at each boot"


def test_uid_can_be_pinned(make_board) -> None:
    vb = make_board("esp32", uid=bytes.fromhex("a0b1c2d3e4f5"))
    assert "a0b1c2d3e4f5" in run_ok(vb, "import machine; print(machine.unique_id().hex())").output


@pytest.mark.parametrize("board", ["pico_w", "esp32"])
def test_app_starts_with_the_boards_heap(make_board, board: str) -> None:
    vb = make_board(board)
    res = run_ok(vb, "import gc\ngc.collect()\nprint('FREE', gc.mem_free())")
    free = int(res.output.split("FREE")[1].split()[0])
    assert vb.heap - 8 * 1024 <= free <= vb.heap, (free, vb.heap)


def test_small_heap_board_runs_out_of_memory_like_a_board(make_board) -> None:
    vb = make_board("pico_w", heap=32 * 1024)
    res = run_ok(vb, "try:\n b = bytearray(48 * 1024)\n print('ALLOCATED')\nexcept MemoryError:\n print('MEMORYERROR')")
    assert "MEMORYERROR" in res.output


def test_reset_cause_is_what_the_host_says(make_board) -> None:
    vb = make_board("pico_w")
    res = run_ok(vb, "import machine; print('CAUSE', machine.reset_cause())", cause=runner.WDT_RESET)
    assert "CAUSE 3" in res.output


def test_machine_reset_is_a_hard_reset(make_board) -> None:
    vb = make_board("esp32")
    res = runner.boot(vb, script="import machine\ntry:\n machine.reset()\nexcept BaseException:\n print('CAUGHT')\n")
    assert res.ended == runner.HARD_RESET_REQ
    assert "CAUGHT" not in res.output, "a reset cannot be caught by app code"


def test_soft_reset_and_systemexit_in_main(make_board) -> None:
    vb = make_board("pico_w")
    assert runner.boot(vb, script="import machine; machine.soft_reset()").ended == runner.SOFT_RESET_REQ
    put(vb, "main.py", "import sys\nsys.exit()\n")
    assert runner.boot(vb).ended == runner.SOFT_RESET_REQ


def test_unfed_watchdog_resets_the_board(make_board) -> None:
    vb = make_board("pico_w")
    res = runner.boot(
        vb,
        script="import machine, time\nw = machine.WDT(timeout=100)\n"
        "for i in range(3000):\n time.sleep_ms(10)\nprint('SURVIVED')",
        timeout=60,
    )
    assert res.ended == runner.WATCHDOG
    assert "SURVIVED" not in res.output


def test_fed_watchdog_does_not(make_board) -> None:
    vb = make_board("pico_w")
    res = run_ok(
        vb,
        "import machine, time\nw = machine.WDT(timeout=2000)\n"
        "for i in range(20):\n time.sleep_ms(10)\n w.feed()\nprint('DONE')",
    )
    assert "DONE" in res.output


def test_board_in_use_is_refused(make_board) -> None:
    from sbdtools.errors import VBoardError

    vb = make_board("pico_w")
    with vb.locked(), pytest.raises(VBoardError, match="in use"):
        runner.boot(vb, script="pass")


@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_stopping_the_cli_never_leaves_the_board_running(make_board, how: str) -> None:
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    vb = make_board("pico_w")
    run_ok(vb, "pass")
    sbd = str(Path(sys.executable).parent / "sbd")
    # Ctrl-C as a terminal delivers it: with SIGINT at its default in the
    # command (a job started in the background by a non-interactive shell,
    # as a CI runner may start this suite, inherits SIGINT ignored).
    proc = subprocess.Popen(
        [sbd, "vboard", "exec", vb.name, "print('LOOPING')\nwhile True:\n    pass"],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stdout is not None
    assert "LOOPING" in proc.stdout.readline()
    assert board_processes(vb), "the board is running"
    proc.send_signal(getattr(signal, how))
    proc.wait(timeout=60)
    end = time.monotonic() + 60
    while board_processes(vb) and time.monotonic() < end:
        time.sleep(0.05)
    assert not board_processes(vb), "the board process outlived the command that powered it"
    assert runner.boot(vb, script="print('NEXT')").ended == runner.EXIT


def test_watchdog_keeps_running_through_a_soft_reset(make_board) -> None:
    vb = make_board("pico_w")
    # The app starts the watchdog, then soft-resets; the next life never feeds it.
    assert (
        runner.boot(vb, script="import machine\nw = machine.WDT(timeout=300)\nmachine.soft_reset()").ended
        == runner.SOFT_RESET_REQ
    )
    res = runner.boot(
        vb, script="import time\nfor i in range(3000):\n time.sleep_ms(10)\nprint('SURVIVED')", reset="soft", timeout=60
    )
    assert res.ended == runner.WATCHDOG
    # while a hard reset stops it
    assert runner.boot(vb, script="import time\ntime.sleep_ms(500)\nprint('FINE')").ended == runner.EXIT
