# Smoke test of the device-test harness itself: runs on both runtimes.
import sys

import dtest


def test_runtime_is_what_harness_says():
    impl = sys.implementation.name
    dtest.eq(dtest.RUNTIME, "micropython" if impl == "micropython" else "cpython", "runtime")


def test_sbd_package_imports():
    import sbd

    dtest.true(isinstance(sbd.__version__, str), "sbd.__version__ is a string")


def test_ticks_and_const():
    import time

    from micropython import const

    dtest.eq(const(7), 7)
    t0 = time.ticks_ms()
    dtest.true(time.ticks_diff(time.ticks_add(t0, 10), t0) == 10, "ticks_add/diff")
    # ticks wrap: at 2**30 on the boards and in the CPython shim, at a wider
    # period on the 64-bit unix port.  ticks_diff must hide the wrap either way.
    last = time.ticks_add(0, -1)
    dtest.true(last > 0, "ticks_add wraps below zero")
    dtest.eq(time.ticks_diff(0, last), 1, "ticks_diff across the wrap")
    if dtest.RUNTIME == "cpython":
        dtest.eq(last, (1 << 30) - 1, "shim period is the boards' 2**30")


def test_heap_is_bounded_on_micropython():
    if dtest.RUNTIME != "micropython":
        return
    import gc

    gc.collect()
    total = gc.mem_free() + gc.mem_alloc()
    dtest.true(total <= 64 * 1024, "heap is at most 64 KiB (got %d)" % total)


def test_raises_helper():
    e = dtest.raises(ValueError, int, "x")
    dtest.true(isinstance(e, ValueError), "returns the exception")
    dtest.raises(AssertionError, dtest.raises, ValueError, int, "1")
