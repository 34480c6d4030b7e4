"""sbd.board.Watchdog on virtual boards (the emulated WDT resets the board
when its deadline passes): a loop that does all its duties keeps the board
up; when one duty stops reporting while the loop still spins, the board
resets and its next boot reports the watchdog as the reset cause."""

from __future__ import annotations

import pytest

from harness.vboards import SdkBoard
from sbdtools.vboard import runner

LOOP = """
import time
from sbd import board
wd = board.Watchdog(3000, ("sensor", "net"))
for i in range(10):
    wd.done("sensor")
    wd.done("net")
    wd.feed()
    time.sleep_ms(20)
print("FED", wd.fed)
{then}
"""

HANG = """
# the network part hangs; the loop itself keeps spinning and calling feed()
for i in range(6000):  # 60 s: far past the 3 s timeout
    wd.done("sensor")
    wd.feed()
    time.sleep_ms(10)
print("SURVIVED")
"""


@pytest.mark.parametrize("sdk_board", ["pico_w", "esp32"], indirect=True)
def test_a_stuck_duty_resets_the_board_with_cause_watchdog(sdk_board: SdkBoard) -> None:
    ok = sdk_board.exec(LOOP.format(then="print('DONE')"), timeout=120).output
    assert "FED 10" in ok and "DONE" in ok, ok
    res = sdk_board.boot(LOOP.format(then=HANG), timeout=120)
    assert res.ended == runner.WATCHDOG, (res.ended, res.output)
    assert "FED 10" in res.output and "SURVIVED" not in res.output, res.output
    # the port reports the watchdog reset at the next boot (the serial relay
    # powers the board on with this cause after the watchdog fires)
    after = sdk_board.exec("from sbd import board\nprint('CAUSE', board.reset_cause())", cause=runner.WDT_RESET).output
    assert "CAUSE watchdog" in after, after
