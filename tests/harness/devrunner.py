# Runs one device test module and reports each test on stdout with a line
# protocol the pytest plugin parses.  Runs on MicroPython and on CPython.
#   micropython devrunner.py <module> [test names...]
# First NAMES lists every test_* the module defines (the plugin fails the
# module if that differs from what it collected); then every test prints
# START then PASS or FAIL; the run ends with DONE <count>.  Each line carries
# a per-run nonce from SBD_TEST_NONCE, so test output cannot forge a result.
# A crash, a hang or an exit mid-run leaves tests without PASS/FAIL and no
# DONE line, which the plugin reports as failures: silence is never a pass.
import gc
import sys

if sys.implementation.name != "micropython":
    # CPython: the shims make `import sbd...` behave as on a board.
    from sbdtools import shims

    shims.install()

import os

_TAG = "@@SBDTEST-" + (os.getenv("SBD_TEST_NONCE") or "")


def _out(*parts):
    print(_TAG, *parts)


def main(argv):
    modname = argv[1]
    wanted = argv[2:]
    mod = __import__(modname)
    names = sorted(n for n in dir(mod) if n.startswith("test_") and callable(getattr(mod, n)))
    _out("NAMES", *names)
    if wanted:
        names = [n for n in names if n in wanted]
    ran = 0
    for name in names:
        fn = getattr(mod, name)
        gc.collect()
        _out("START", name)
        try:
            fn()
        except Exception as e:
            _out("FAIL", name)
            sys.print_exception(e)
            _out("ENDFAIL", name)
        else:
            _out("PASS", name)
        ran += 1
    _out("DONE", ran)


main(sys.argv)
