# sbd.lockdown: the production profile; no REPL fallback, nothing of an
# error's message leaves the board.
import micropython
from dtest import eq, raises, true
from sbd import board, events, lockdown


class _Reset(Exception):
    pass


def _resetting():
    # board.reset stands in for machine.reset: record the call and stop there.
    calls = []

    def fake():
        calls.append(1)
        raise _Reset()

    board.reset = fake
    return calls


def _restore(saved):
    board.reset = saved
    lockdown.apply(lockdown.DEVELOPMENT)
    micropython.kbd_intr(3)


def test_development_lets_errors_through_and_never_resets():
    saved = board.reset
    calls = _resetting()
    try:
        lockdown.apply(lockdown.DEVELOPMENT)

        def app():
            raise KeyError("secret-value")

        raises(KeyError, lockdown.run, app)
        lockdown.run(lambda: None)
        eq(calls, [])
        true(not lockdown.production())
        true("production profile not applied" in lockdown.status()[0])
    finally:
        _restore(saved)


def test_production_error_resets_and_reports_type_only():
    saved = board.reset
    calls = _resetting()
    seen = []

    def sub(name, fields):
        seen.append((name, fields))

    events.subscribe(sub)
    try:
        lockdown.apply(lockdown.PRODUCTION)
        true(lockdown.production())

        def app(x):
            raise ValueError("secret-value " + x)

        raises(_Reset, lockdown.run, app, "abc")
        eq(calls, [1])
        eq(seen, [("lockdown.app_error", {"error": "ValueError"})])
        true("secret" not in repr(seen))
        # an app that returns resets the board too: no REPL after main.py
        raises(_Reset, lockdown.run, lambda: None)
        eq(calls, [1, 1])
        # an app that exits resets too (SystemExit is not an Exception)

        def leaves():
            raise SystemExit()

        raises(_Reset, lockdown.run, leaves)
        eq(calls, [1, 1, 1])
    finally:
        events.unsubscribe(sub)
        _restore(saved)


def test_bad_mode_is_refused():
    raises(ValueError, lockdown.apply, 2)
    raises(ValueError, lockdown.apply, "production")
    true(not lockdown.production())
