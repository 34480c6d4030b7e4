# sbd.board.Watchdog: fed only when every duty of the loop reported since the
# last feed, never from a hard interrupt handler (heap locked: checked on
# MicroPython, where heap_lock is real), port limits through board.watchdog.
# (The real reset: tests/vboard/test_sdk_watchdog.py.)
import fakeboard  # noqa: F401  (installs the stand-in machine before sbd imports it)
import micropython
from dtest import RUNTIME, eq, raises, true
from fakeboard import FAKE
from sbd import board

FEEDS = []


def _count():
    FEEDS.append(1)


def _fresh(*duties, timeout=1000):
    del FEEDS[:]
    FAKE.feed = _count
    return board.Watchdog(timeout, duties)


def test_feeds_only_when_every_duty_reported():
    w = _fresh("sensor", "net")
    eq(FAKE.wdt[-1], (0, 1000), "started with the timeout")
    true(not w.feed(), "no duty yet")
    w.done("sensor")
    true(not w.feed(), "net missing")
    w.done("net")
    true(w.feed(), "both done")
    eq(len(FEEDS), 1, "one hardware feed")
    true(not w.feed(), "duties start again after a feed")
    w.done("net")
    w.done("sensor")
    w.done("sensor")
    true(w.feed(), "order and repeats do not matter")
    eq((w.fed, w.refused, len(FEEDS)), (2, 3, 2), "counts")
    raises(ValueError, w.done, "other")


def test_no_duties_feeds_every_time():
    w = _fresh()
    true(w.feed() and w.feed(), "fed")
    eq(len(FEEDS), 2, "hardware feeds")


def test_bad_arguments_are_refused():
    raises(ValueError, board.Watchdog, 0)
    raises(ValueError, board.Watchdog, True)
    raises(ValueError, board.Watchdog, 1000, ("",))
    raises(ValueError, board.Watchdog, 1000, (1,))
    raises(ValueError, board.Watchdog, 1000, tuple("d%d" % i for i in range(17)))


def test_a_duty_named_twice_is_refused():
    # Two bits for one name, done() sets only the first: never fed.
    e = raises(ValueError, board.Watchdog, 1000, ("net", "sensor", "net"))
    eq(str(e), "duty names must be distinct")
    raises(ValueError, board.Watchdog, 1000, ["a", "a"])


def test_refuses_to_feed_from_a_hard_interrupt():
    w = _fresh()
    micropython.heap_lock()  # what a hard IRQ handler runs under
    try:
        ok = w.feed()
    finally:
        micropython.heap_unlock()
    if RUNTIME == "micropython":
        true(not ok, "refused with the heap locked")
        eq(len(FEEDS), 0, "no hardware feed")
    else:
        true(ok, "CPython has no interrupts (the shim's heap_lock is a no-op)")
    true(w.feed(), "the loop feeds again")
