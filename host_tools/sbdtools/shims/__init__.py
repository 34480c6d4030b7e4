"""Shims that let the device package `sbd` run unchanged under CPython.

Host tools and host tests import the very same `sbd` modules the boards run
(one implementation of every format).  MicroPython-only modules are provided
by small stand-ins in ``shims/mp`` (``cryptolib`` over ``cryptography``,
``micropython``, ``machine``), and the few MicroPython extensions to standard
modules (``time.ticks_*``, ``gc.mem_free``, ``sys.print_exception``) are
added to CPython's own modules.  None of this is ever copied to a board.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import traceback
from typing import Any

MP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp")

# MicroPython's ticks wrap at 2**30 on every port; keep that so code that
# forgets ticks_diff() fails on the host too, not only on the board.
TICKS_PERIOD = 1 << 30
_TICKS_MAX = TICKS_PERIOD - 1
_TICKS_HALF = TICKS_PERIOD // 2
_installed = False


def ticks_ms() -> int:
    return (time.monotonic_ns() // 1_000_000) & _TICKS_MAX


def ticks_us() -> int:
    return (time.monotonic_ns() // 1_000) & _TICKS_MAX


def ticks_cpu() -> int:
    return time.perf_counter_ns() & _TICKS_MAX


def ticks_add(ticks: int, delta: int) -> int:
    if not -_TICKS_HALF <= delta < _TICKS_HALF:
        raise OverflowError("ticks interval overflow")
    return (ticks + delta) & _TICKS_MAX


def ticks_diff(end: int, start: int) -> int:
    return ((end - start + _TICKS_HALF) & _TICKS_MAX) - _TICKS_HALF


def sleep_ms(ms: int) -> None:
    time.sleep(ms / 1000)


def sleep_us(us: int) -> None:
    time.sleep(us / 1_000_000)


def _print_exception(exc: BaseException, file: Any = None) -> None:
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=file or sys.stdout)


def install() -> None:
    """Make `import sbd...` work under CPython.  Idempotent."""
    global _installed
    if _installed:
        return
    # Appended, not prepended: a real CPython module always wins over a shim.
    if MP_DIR not in sys.path:
        sys.path.append(MP_DIR)
    for name, fn in (
        ("ticks_ms", ticks_ms),
        ("ticks_us", ticks_us),
        ("ticks_cpu", ticks_cpu),
        ("ticks_add", ticks_add),
        ("ticks_diff", ticks_diff),
        ("sleep_ms", sleep_ms),
        ("sleep_us", sleep_us),
    ):
        if not hasattr(time, name):
            setattr(time, name, fn)
    # gc: the host has no fixed heap; report a large free figure so code that
    # sizes buffers from mem_free() behaves as on a roomy board.
    if not hasattr(gc, "mem_free"):
        gc.mem_free = lambda: 1 << 24  # type: ignore[attr-defined]
        gc.mem_alloc = lambda: 0  # type: ignore[attr-defined]
        gc.threshold = lambda *a: -1  # type: ignore[attr-defined]
    if not hasattr(sys, "print_exception"):
        sys.print_exception = _print_exception  # type: ignore[attr-defined]
    _installed = True
