# CPython stand-in for MicroPython's `machine` (only what sbd uses).
# The host is not a board: unique_id() comes from SBD_UNIQUE_ID (hex) so tests
# can pin it, else a fixed placeholder that is clearly not a real board's id.
import os

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

_reset_cause = PWRON_RESET


def unique_id():
    env = os.environ.get("SBD_UNIQUE_ID")
    if env:
        return bytes.fromhex(env)
    return b"HOSTONLY"


def reset():
    raise SystemExit("machine.reset() on the host")


def soft_reset():
    raise SystemExit("machine.soft_reset() on the host")


def reset_cause():
    return _reset_cause


def freq(*args):
    return 0


def idle():
    pass


class WDT:
    def __init__(self, id=0, timeout=5000):
        if timeout <= 0:
            raise ValueError("timeout")
        self.timeout = timeout

    def feed(self):
        pass
