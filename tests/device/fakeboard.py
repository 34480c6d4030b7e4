# A stand-in `machine` for device tests of board-bound code (sbd.board,
# identity, auth) on the plain unix port, which has no machine.unique_id.
# Import this module before any sbd module that imports machine; tests change
# FAKE.uid to play "another board".  Virtual-board tests use the real
# emulated machine instead (tests/vboard/).
import sys


class FakeMachine:
    PWRON_RESET = 1
    HARD_RESET = 2
    WDT_RESET = 3
    DEEPSLEEP_RESET = 4
    SOFT_RESET = 5

    def __init__(self):
        self.uid = b"\x10\x32\x54\x76\x98\xba\xdc\xfe"
        self.cause = 1
        self.wdt = []

    def unique_id(self):
        return self.uid

    def reset_cause(self):
        return self.cause

    def reset(self):
        raise SystemExit("reset")

    def WDT(self, id=0, timeout=5000):
        self.wdt.append((id, timeout))
        return self

    def feed(self):
        pass


FAKE = FakeMachine()
sys.modules["machine"] = FAKE
