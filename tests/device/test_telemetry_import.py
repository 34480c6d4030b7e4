# sbd.telemetry: what importing it costs (its 32-slot ring included), and
# that it loads no network code.
# sbd-device: heapsize=64K timeout=60
# Imports sbd.telemetry only inside the test: each device test module runs
# in its own process, so the first import is measured here.
import gc
import sys

import fakeboard  # noqa: F401 - a machine module, as on a board
from dtest import RUNTIME, true

# 64-bit unix port: 14.6 KB measured here for the module and its default
# 32-slot ring (about 2 KB of it), sbd.events not counted (the bench's
# figure, bench/results/telemetry.md, counts sbd.events too).  A regression
# guard with some room, not a benchmark.  16.5 KB measured on 2026-11-30
# once EVENTS declared net.plaintext_login (a password over plain TCP).
_IMPORT_MAX = 17000


def test_import_cost_and_no_network_code():
    from sbd import events  # noqa: F401 - the layer below, paid by every app

    gc.collect()
    before = gc.mem_free() if RUNTIME == "micropython" else 0
    from sbd import telemetry as t

    gc.collect()
    if RUNTIME == "micropython":
        cost = before - gc.mem_free()
        true(cost < _IMPORT_MAX, "import sbd.telemetry costs %d B" % cost)
    for mod in ("sbd.net", "sbd.net.mqtt", "socket", "ssl", "sbd.board"):
        true(mod not in sys.modules, mod + " not imported by sbd.telemetry")
    t.record("auth.ok")
    true("sbd.net" not in sys.modules, "recording loads no network code")
