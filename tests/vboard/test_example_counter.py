"""The toy counter module of docs/examples/counter (see docs/examples/README.md)
on a virtual board: a power-cut sweep of `increment()`.

For a module in the SDK this file would be tests/vboard/test_<module>_powercut.py,
without `modules=` (the SDK is on every `sdk_board` already)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.vboards import SdkBoard, power_cut_sweep
from sbdtools.vboard import runner

COUNTER = Path(__file__).resolve().parents[2] / "docs" / "examples" / "counter" / "counter.py"
SETUP = "from counter import Counter\nc = Counter('boots')\nfor _ in range(3):\n    c.increment()\n"
INCREMENT = "from counter import Counter\nCounter('boots').increment()\n"
SHOW = "from counter import Counter\nprint('VALUE', Counter('boots').value)\n"


def _value(res: runner.BootResult) -> int:
    for line in res.output.splitlines():
        if line.startswith("VALUE "):
            return int(line.split()[1])
    raise AssertionError(f"no VALUE line:\n{res.output}")


@pytest.mark.parametrize("board", ["pico_w", "esp32"])
def test_increment_is_old_or_new_after_a_power_cut_anywhere(make_sdk_board, board: str) -> None:  # type: ignore[no-untyped-def]
    dut = make_sdk_board(board, modules=[COUNTER])
    dut.exec(SETUP)
    seen = set()

    def check(b: SdkBoard, res: runner.BootResult) -> None:
        # The reboot ran SHOW; Counter() raising (a damaged file) would have failed it already.
        value = _value(res)
        assert value in (3, 4), f"counter is {value}, not 3 (old) or 4 (new)"
        seen.add(value)

    sweep = power_cut_sweep(dut, INCREMENT, check, inspect=SHOW)
    assert sweep.cuts and seen == {3, 4}, "the cuts fell both before and after the commit point"
    # After the last cut the board counts on from whatever it kept.
    assert _value(dut.exec(INCREMENT + SHOW)) in (4, 5)


def test_the_examples_device_tests_are_collected_by_make_test() -> None:
    # docs/examples/counter/test_counter.py runs only because pytest's testpaths name docs/examples.
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    line = next(ln for ln in pyproject.splitlines() if ln.startswith("testpaths"))
    assert '"docs/examples"' in line, line
    assert (COUNTER.parent / "dtest.py").resolve() == Path(__file__).resolve().parents[1] / "device" / "dtest.py"
