# sbd.events: the one hook point for security and system events.
#
# Any sbd module (and the app) reports what happened with
#     events.emit("auth.failure", count=3)
# and telemetry or the app listens with events.subscribe(fn); fn is called as
# fn(name, fields) with fields a dict.  Rules, in order:
#   1. nobody listening costs nothing: emit returns at once.  On MicroPython a
#      call with **fields always builds a dict, so code on a path that must
#      not allocate (an IRQ, a heap-locked section) tests `events.listening`
#      first; tests/device/test_events.py proves that guard allocates nothing;
#   2. emit never raises into the emitter: a subscriber's exception is
#      counted in `errors` and the next subscriber still runs;
#   3. a subscriber that emits is delivered to, one level deep; deeper events
#      are dropped and counted in `dropped` (a loop of subscribers emitting
#      to each other cannot exhaust the stack);
#   4. at most _MAX_SUBSCRIBERS subscribers; subscribing the same function
#      twice delivers once.
# Event names are "<module>.<what>"; fields hold counts, reasons and paths,
# never a secret, a password or a rejected input value (the emitters' rule,
# checked by their own tests).
from micropython import const

_MAX_SUBSCRIBERS = const(8)
_MAX_DEPTH = const(2)

listening = False  # True while anyone is subscribed: the allocation-free guard
errors = 0  # subscriber exceptions swallowed
dropped = 0  # events not delivered because of nesting

_subs = []
_depth = 0


def subscribe(fn):
    """Call fn(name, fields) for every event from now on."""
    global listening
    if fn in _subs:
        return
    if len(_subs) >= _MAX_SUBSCRIBERS:
        raise ValueError("too many event subscribers")
    _subs.append(fn)
    listening = True


def unsubscribe(fn):
    """Stop calling fn; unknown functions are ignored."""
    global listening
    if fn in _subs:
        _subs.remove(fn)
    listening = len(_subs) > 0


def emit(name, **fields):
    """Deliver an event to every subscriber; never raises."""
    global _depth, errors, dropped
    if not listening:
        return
    if _depth >= _MAX_DEPTH:
        dropped += 1
        return
    _depth += 1
    try:
        # By index, not by iterator: a subscriber may unsubscribe itself.
        i = 0
        while i < len(_subs):
            fn = _subs[i]
            try:
                fn(name, fields)
            except Exception:  # noqa: BLE001 - rule 2: the emitter never sees it
                errors += 1
            if i < len(_subs) and _subs[i] is fn:
                i += 1
    finally:
        _depth -= 1
