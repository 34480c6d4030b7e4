# sbd.lockdown: the production lock-down profile (ETSI EN 303 645 5.6).
#
# A project turns it on in one place, its boot.py:
#
#     from sbd import lockdown
#     lockdown.apply(lockdown.PRODUCTION)     # DEVELOPMENT while developing
#
# and starts its app through lockdown.run(main) at the end of main.py.  In
# production that gives what a boot.py can do on a stock MicroPython firmware:
#   - Ctrl-C no longer interrupts the app (micropython.kbd_intr(-1)), so the
#     serial REPL cannot be reached by breaking into a running app;
#   - WebREPL is stopped if the firmware has it (and status() reports a
#     webrepl_cfg.py, the file that holds a WebREPL password);
#   - ESP32: the IDF's debug log on the UART is off (esp.osdebug(None));
#   - run(): an error in the app, or the app returning, resets the board
#     instead of falling back to the REPL; only the error's type name leaves
#     the board (event lockdown.app_error), never its message.
# What it cannot do: close the USB/UART REPL of the firmware itself.  Ctrl-C
# sent before boot.py calls apply() still reaches the REPL; closing that
# needs a firmware built without it (docs/hardening.md).
from micropython import const

from sbd import board, events

DEVELOPMENT = const(0)
PRODUCTION = const(1)

_mode = DEVELOPMENT
_debug_on = board.FAMILY == "esp32"  # the IDF log on the UART, until apply() turns it off


def apply(mode=PRODUCTION):
    """Turn the profile on (PRODUCTION) or leave the board open (DEVELOPMENT)."""
    global _mode, _debug_on
    if mode != PRODUCTION and mode != DEVELOPMENT:
        raise ValueError("lockdown mode must be PRODUCTION or DEVELOPMENT")
    _mode = mode
    if mode != PRODUCTION:
        return
    import micropython

    micropython.kbd_intr(-1)
    try:
        import webrepl
    except ImportError:
        webrepl = None
    if webrepl is not None:
        webrepl.stop()
    if board.FAMILY == "esp32":
        try:
            import esp
        except ImportError:  # not a stock ESP32 firmware (the virtual board): status() says so
            return
        esp.osdebug(None)
        _debug_on = False


def production():
    return _mode == PRODUCTION


def status():
    """What keeps this board from being locked down: a list of short
    reasons, empty when it is.  `sbd doctor --device` can print them."""
    out = []
    if _mode != PRODUCTION:
        out.append("production profile not applied (lockdown.apply in boot.py)")
    if _debug_on:
        out.append("ESP32 debug log still on (no esp module to turn it off)")
    for path in ("/webrepl_cfg.py", "webrepl_cfg.py"):
        try:
            open(path).close()
        except OSError:
            continue
        out.append("webrepl_cfg.py present (a WebREPL password on the board)")
        break
    return out


def run(main, *args):
    """Run the app.  In production it never returns to the REPL: an error is
    reported by type name only and the board resets, as it does if the app
    returns.  In development errors propagate as usual."""
    try:
        main(*args)
    except Exception as e:  # noqa: BLE001 - in production nothing reaches the REPL
        if _mode != PRODUCTION:
            raise
        events.emit("lockdown.app_error", error=type(e).__name__)
    finally:
        if _mode == PRODUCTION:
            board.reset()
