# Helpers for device tests: the same module runs on real MicroPython (as .mpy,
# under the board's heap) and on CPython through the shims.
#
# A device test module is tests/device/test_<name>.py with argument-less
# functions test_*().  Plain `assert` is allowed in tests (the harness compiles
# them at opt level 0), but prefer eq()/raises() for a readable failure.
# Options for the harness go in a comment line of the module:
#     # sbd-device: heapsize=96K timeout=120 runtimes=micropython,cpython
import os
import sys

RUNTIME = "micropython" if sys.implementation.name == "micropython" else "cpython"


def eq(got, want, what=""):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what or "value", got, want))


def true(cond, what="condition"):
    if not cond:
        raise AssertionError(what + " is false")


def raises(exc_type, fn, *args, **kw):
    """Call fn and return the exception of exc_type it raised; fail if none."""
    try:
        fn(*args, **kw)
    except exc_type as e:
        return e
    raise AssertionError("%s did not raise %s" % (getattr(fn, "__name__", "call"), exc_type.__name__))


def data_path(name):
    """Path of a file in tests/device/data (set by the harness)."""
    return os.getenv("SBD_TEST_DATA") + "/" + name


def vectors_path(name):
    """Path of a shared test-vector file (../shared/vectors, set by the harness)."""
    return os.getenv("SBD_VECTORS") + "/" + name


def scratch_path(name):
    """A writable scratch path private to this test run."""
    return os.getenv("SBD_SCRATCH") + "/" + name
