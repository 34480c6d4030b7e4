# sbd.board: what sbd knows of the hardware, the same code on every port.
#
# The ports differ in small ways that matter to security code; this module
# hides them so identity, auth and ota never test sys.platform themselves:
#   - the family: "esp32" or "rp2" from sys.platform; anything else (the unix
#     port outside a virtual board, CPython through the shims) is "host";
#   - the unique id: machine.unique_id(), refused when empty (a board without
#     one cannot bind a factory record to itself);
#   - the reset cause as a name: the rp2 port defines only PWRON_RESET and
#     WDT_RESET, so constants missing on a port are never matched;
#   - a monotonic counter outside the flash: None on every board today, see
#     monotonic_counter() below;
#   - Watchdog: the hardware watchdog fed from the app's loop, only when each
#     of the app's duties reported progress (docs/telemetry.md, "Watchdog").
import sys

import machine

FAMILY = sys.platform if sys.platform in ("esp32", "rp2") else "host"

# (machine constant name, sbd name); resolved once against this port's machine.
_CAUSES = (
    ("PWRON_RESET", "power_on"),
    ("HARD_RESET", "hard"),
    ("WDT_RESET", "watchdog"),
    ("DEEPSLEEP_RESET", "deep_sleep"),
    ("SOFT_RESET", "soft"),
)


class BoardError(Exception):
    """The hardware cannot give what was asked (no unique id, ...)."""


def unique_id():
    """The board's own id as bytes (ESP32: base MAC, 6 bytes; rp2: flash id, 8)."""
    uid = machine.unique_id()
    if not uid:
        raise BoardError("this board reports no unique id")
    return bytes(uid)


def reset_cause():
    """Why the board last started: power_on, hard, watchdog, deep_sleep, soft or unknown."""
    cause = machine.reset_cause()
    for const_name, name in _CAUSES:
        if getattr(machine, const_name, None) == cause:
            return name
    return "unknown"


def reset():
    """Hard reset (does not return)."""
    machine.reset()


def watchdog(timeout_ms):
    """Start the hardware watchdog; feed() the object it returns.  Once
    started it cannot be stopped.  Port limits apply (rp2040: 8388 ms,
    rp2350: 16777 ms) and raise ValueError."""
    if not isinstance(timeout_ms, int) or isinstance(timeout_ms, bool) or timeout_ms <= 0:
        raise ValueError("watchdog timeout must be a positive int of ms")
    return machine.WDT(0, timeout_ms)


class Watchdog:
    """The hardware watchdog, fed from the app's main loop.

    Rules, in order:
      1. feed() from the loop, never from a timer or an interrupt: a timer
         keeps feeding while the loop is stuck, which is what the watchdog
         is there to catch.  A hard interrupt handler cannot allocate, and
         feed() refuses there (soft callbacks cannot be told apart: that
         part is the rule in the docs, and rule 2 catches most of it);
      2. `duties` names what the loop must get done between two feeds (say
         "sensor", "net"): done(name) reports one; feed() feeds the hardware
         only when every duty reported since the last feed, so a loop that
         spins while one part hangs still resets the board.  A duty means
         "ran", not "succeeded": the network being down must not reset a
         board that keeps its local function; the names must be distinct;
      3. the timeout must exceed the longest pause of the loop (a TLS
         connect waits up to sbd.net.mqtt's timeout_s); port limits apply
         (rp2040: 8388 ms) and raise ValueError.
    Once started it cannot be stopped (the hardware's rule)."""

    def __init__(self, timeout_ms, duties=()):
        if len(duties) > 16:
            raise ValueError("at most 16 duties")
        duties = tuple(duties)
        for i, d in enumerate(duties):
            if type(d) is not str or not d:
                raise ValueError("a duty is a non-empty str")
            # A name given twice would own two bits and done() sets only the
            # first: the watchdog would then never be fed.
            if duties.index(d) != i:
                raise ValueError("duty names must be distinct")
        self.duties = duties
        self._all = (1 << len(self.duties)) - 1
        self._seen = 0
        self.fed = 0
        self.refused = 0
        self._wdt = watchdog(timeout_ms)

    def done(self, duty):
        """The loop got `duty` done (rule 2); ValueError for an unknown name."""
        self._seen |= 1 << self.duties.index(duty)

    def feed(self):
        """Feed if every duty reported since the last feed; True if fed."""
        try:
            bytearray(1)  # fails in a hard interrupt handler (heap locked)
        except MemoryError:
            self.refused += 1
            return False
        if self._seen != self._all:
            self.refused += 1
            return False
        self._wdt.feed()
        self._seen = 0
        self.fed += 1
        return True


def monotonic_counter():
    """A counter kept outside the flash that can only go up, or None.

    None on every board today: the ESP32's eFuses and the RP2350's OTP could
    hold one, but MicroPython exposes no API to program them, and burning
    fuses from Python is irreversible and cannot be tested without hardware.
    Callers (the credential store, the updater) must then say that rolling
    the whole flash back to an older copy is not detected."""
    return None
