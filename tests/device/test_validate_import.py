# sbd.validate: what importing it costs, and which submodules load when.
# sbd-device: heapsize=64K timeout=60
# This module imports sbd.validate only inside its tests: the first test
# measures the import itself (each device test module runs in its own process).
import gc
import sys

from dtest import RUNTIME, true

# 64-bit unix port, bench/results/validate.md: about 15.6 KB here.  The 18
# public names of the spec layout (issue 9: form and _more read them instead
# of copies) cost about 0.5 KB of that, and on this heap they also make the
# qstr pool take its next block (about 1 KB more) sooner; frozen firmware
# keeps qstrs in flash.  A regression guard with some room, not a benchmark.
_CORE_IMPORT_MAX = 16500


def test_a_core_import_cost_and_no_submodules():
    gc.collect()
    before = gc.mem_free() if RUNTIME == "micropython" else 0
    from sbd import validate as v

    gc.collect()
    if RUNTIME == "micropython":
        cost = before - gc.mem_free()
        true(cost < _CORE_IMPORT_MAX, "import sbd.validate costs %d B" % cost)
    for sub in ("_scan", "_more", "form", "layout"):
        true("sbd.validate." + sub not in sys.modules, sub + " not imported by the core")
    # Schemas of the common kinds do not load the rarely used paths either.
    s = v.obj(
        {
            "a": v.text(1, 8, chars=v.IDENT),
            "b": v.integer(0, 9),
            "c": v.list_of(v.one_of("x", "y")),
            "d": v.number(0, 1, optional=True),
            "e": v.boolean(default=True),
        }
    )
    v.validate({"a": "ok", "b": 1, "c": ["x"]}, s)
    true("sbd.validate._more" not in sys.modules, "_more not imported by common schemas")
    true("sbd.validate._scan" not in sys.modules, "_scan not imported by validate()")


def test_b_rare_kinds_load_more_at_construction():
    from sbd import validate as v

    v.hexbytes(1, 2)
    true("sbd.validate._more" in sys.modules, "hexbytes() imports _more")


def test_c_parse_json_loads_the_scanner():
    from sbd import validate as v

    v.parse_json(b"1", v.integer())
    true("sbd.validate._scan" in sys.modules, "parse_json imports _scan")
