# Virtual board: the `machine` module.  Everything the unix port's built-in
# machine has, plus what a board has and the unix port lacks: unique_id,
# reset, soft_reset, reset_cause, WDT, freq, the reset-cause constants.
# Resets are signals to our own process, which the host turns into a
# restart: user code cannot catch them (a SystemExit could be caught).
import os

import machine as _builtin

for _k in dir(_builtin):
    if not _k.startswith("__"):
        globals()[_k] = getattr(_builtin, _k)
del _k

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

_uid = b""
_cause = PWRON_RESET
_freq = 0
_wdt_file = None


def _setup(uid, cause, freq_hz, wdt_file):
    global _uid, _cause, _freq, _wdt_file
    _uid = uid
    _cause = cause
    _freq = freq_hz
    _wdt_file = wdt_file


def _signal(sig):
    os.system("kill -%s $PPID" % sig)
    while True:
        pass


def unique_id():
    return _uid


def reset():
    _signal("USR1")


def soft_reset():
    _signal("USR2")


def bootloader():
    reset()


def reset_cause():
    return _cause


def freq(*args):
    return _freq


def idle():
    pass


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


class WDT:
    # One watchdog per board; once started it cannot be stopped (as on the
    # ports).  The host watches the deadline we write and resets the board
    # with WDT_RESET when it passes.
    _started = False

    def __init__(self, id=0, timeout=5000):
        if timeout < 1 or timeout > 0x7FFFFFFF:
            raise ValueError("timeout")
        self._timeout = timeout
        WDT._started = True
        self.feed()

    def feed(self):
        import struct
        import time

        # CLOCK_MONOTONIC in ms on the unix port, the clock the host watches
        # with (never the wall clock, which NTP may step).
        deadline = time.ticks_ms() + self._timeout
        _wdt_file.seek(0)
        _wdt_file.write(struct.pack("<Q", deadline))
