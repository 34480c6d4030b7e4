"""sbd.flashlog on virtual boards (real MicroPython, littlefs on emulated
flash): power cut at every flash program and erase while telemetry writes
events through the log, segments rotating; after every cut the log reads
back as a run of what was written, in order, never garbage, never over its
bound, and the next boot appends after it.  Then `sbd telemetry log` reads
it from the host."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from harness.vboards import SdkBoard, power_cut_sweep
from sbdtools import cli
from sbdtools.vboard import runner

SEG = 256
PATH = "/.sbd/log/events"

# Events 1..N through telemetry into the log (3 records fit a segment, so
# the run rotates several times); setup wrote some first so .0 exists.
WRITE = """
from sbd import telemetry as t, flashlog
log = flashlog.FlashLog(seg_bytes={seg})
t.configure(slots=8, rules=())
t.add_sink(log)
for i in range({first}, {last}):
    t.record('auth.failure', i)
    t.pump()
"""

INSPECT = f"""
import json, os
from sbd import flashlog
recs = flashlog.read()
size = 0
for s in ('.0', '.1'):
    try:
        size += os.stat({PATH!r} + s)[6]
    except OSError:
        pass
print('LOG', json.dumps([json.loads(r)['f']['count'] for r in recs]), size)
"""


def _log(out: str) -> tuple[list[int], int]:
    line = next(ln for ln in out.splitlines() if ln.startswith("LOG "))
    counts, size = line[4:].rsplit(" ", 1)
    return json.loads(counts), int(size)


def test_power_cut_at_every_write_leaves_a_run_of_what_was_written(sdk_board: SdkBoard) -> None:
    board = sdk_board
    board.exec(WRITE.format(seg=SEG, first=1, last=5))  # 4 events: one rotation already
    before, _ = _log(board.exec(INSPECT).output)
    assert before == [1, 2, 3, 4], before
    last = 12
    seen_lengths = set()

    def check(b: SdkBoard, res: runner.BootResult) -> None:
        got, size = _log(res.output)
        assert size <= 2 * SEG, f"the log is over its bound: {size} bytes"
        assert got, "the log lost everything"
        assert got == list(range(got[0], got[0] + len(got))), f"not a run of what was written: {got}"
        assert 1 <= got[0] and got[-1] <= last - 1, got
        assert got[-1] >= 4, f"older than what was there before the operation: {got}"
        seen_lengths.add(got[-1])
        # the next boot appends right after what is there
        after, size = _log(b.exec(WRITE.format(seg=SEG, first=100, last=101) + INSPECT).output)
        assert after == [*got, 100][-len(after) :], (got, after)
        assert size <= 2 * SEG

    sweep = power_cut_sweep(board, WRITE.format(seg=SEG, first=5, last=last), check, inspect=INSPECT)
    assert sweep.ops >= 8, sweep
    assert len(seen_lengths) >= 4, f"the cuts should land at different records: {seen_lengths}"


def test_sbd_telemetry_log_reads_it_from_the_host(
    make_sdk_board: Callable[..., SdkBoard], capsys: pytest.CaptureFixture[str]
) -> None:
    board = make_sdk_board(name="logb")
    board.exec(
        "from sbd import telemetry as t, flashlog\n"
        "t.add_sink(flashlog.FlashLog())\n"
        "t.record('auth.failure', 1)\nt.record('sys.metrics', 5, 1000, 'power_on', 0)\n"
        "t.record('auth.lockout', 3, 1000)\nt.pump()\n"
    )
    with pytest.raises(SystemExit) as e:
        cli.main(["telemetry", "log", "--vboard", "logb", "--json"])
    got = capsys.readouterr()
    assert (e.value.code or 0) == 0, got.err
    evs = [json.loads(ln) for ln in got.out.splitlines()]
    assert [(x["ev"], x["f"]) for x in evs] == [
        ("auth.failure", {"count": 1}),
        ("auth.lockout", {"count": 3, "wait_ms": 1000}),
    ]
    assert "2 event(s) in the log" in got.err
    with pytest.raises(SystemExit) as e:
        cli.main(["telemetry", "log", "--vboard", "logb", "--path", "/../x"])
    assert e.value.code != 0
