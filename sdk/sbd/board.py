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
#     monotonic_counter() below.
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


def monotonic_counter():
    """A counter kept outside the flash that can only go up, or None.

    None on every board today: the ESP32's eFuses and the RP2350's OTP could
    hold one, but MicroPython exposes no API to program them, and burning
    fuses from Python is irreversible and cannot be tested without hardware.
    Callers (the credential store, the updater) must then say that rolling
    the whole flash back to an older copy is not detected."""
    return None
