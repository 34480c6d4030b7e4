# Virtual board: the `machine` module.  Everything the unix port's built-in
# machine has, plus what a board has and the unix port lacks: unique_id,
# reset, soft_reset, reset_cause, WDT, freq, the reset-cause constants.
# Resets are signals to our own process, which the host turns into a
# restart: user code cannot catch them (a SystemExit could be caught).
# Per port (micropython 1c3c201): ports/esp32/modmachine.c defines
# PWRON/HARD/WDT/DEEPSLEEP/SOFT_RESET (1..5); ports/rp2/modmachine.c only
# PWRON_RESET (1) and WDT_RESET (3).  WDT limits: ports/esp32/machine_wdt.c
# (id 0 only, timeout > 0), ports/rp2/machine_wdt.c (id 0, at most 8388 ms on
# RP2040 and 16777 ms on RP2350).
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
_chip = ""


def _setup(uid, cause, freq_hz, wdt_file, family, chip):
    global _uid, _cause, _freq, _wdt_file, _chip
    _uid = uid
    _cause = cause
    _freq = freq_hz
    _wdt_file = wdt_file
    _chip = chip
    if family == "rp2":
        g = globals()
        for k in ("HARD_RESET", "DEEPSLEEP_RESET", "SOFT_RESET"):
            del g[k]


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
        timeout = int(timeout)
        if _chip.startswith("rp2"):
            if int(id) != 0:
                raise ValueError("WDT(%d) doesn't exist" % id)
            top = 16777 if _chip == "rp2350" else 8388
            if timeout & 0xFFFFFFFF > top:  # uint32_t in the port
                raise ValueError("timeout exceeds %d" % top)
        else:
            if id is not 0:  # noqa: F632 -- the port compares the object with small int 0
                raise ValueError
            if timeout <= 0:
                raise ValueError("WDT timeout too short")
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


class Pin:
    # A GPIO with nothing attached: the virtual board logs every change of
    # an output's level on its console ("vboard: Pin('LED') on"), so an app
    # that blinks an LED shows it.  Inputs read their pull (1 with PULL_UP).
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, id, mode=-1, pull=-1, *, value=None):
        self._id = id
        self._out = mode in (Pin.OUT, Pin.OPEN_DRAIN)
        self._v = 1 if pull == Pin.PULL_UP else 0
        if value is not None:
            self.value(value)

    def __repr__(self):
        return "Pin(%r)" % (self._id,)

    def value(self, v=None):
        if v is None:
            return self._v
        v = 1 if v else 0
        if self._out and v != self._v:
            print("vboard: %r %s" % (self, "on" if v else "off"))
        self._v = v

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def toggle(self):
        self.value(1 - self._v)
