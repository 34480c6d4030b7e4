# The pre-scan against CPython's strict parser, on this runtime (issue 7): the
# inputs of validate_scan_gen.py (the same bytes on every runtime) must get the
# verdicts CPython's reference gave them (data/validate_scan_verdicts.bin,
# written by tests/host/validate_scan_fuzzing.py), from the scan in use (viper
# on MicroPython) and from the portable one; and parse_json on each input
# returns or raises ValidationError, nothing else, in a 64 KiB heap.
# sbd-device: heapsize=64K timeout=300
import gc

import validate_scan_gen as gen
from dtest import RUNTIME, data_path, eq, true
from sbd import validate as v
from sbd.validate import _scan

_BIG = 1 << 20


def _verdicts():
    with open(data_path("validate_scan_verdicts.bin"), "rb") as f:
        return f.read()


def _replay(fn):
    bits = _verdicts()
    eq(len(bits), (gen.COUNT + 7) // 8, "verdicts for every input")
    st = bytearray(1024)
    bad = []
    i = 0
    for data in gen.inputs():
        want = (bits[i >> 3] >> (i & 7)) & 1
        got = 1 if fn(data, len(data), _BIG, _BIG, st) >= 0 else 0
        if got != want and len(bad) < 5:
            bad.append("%d: %r scan %d, CPython %d" % (i, data[:80], got, want))
        i += 1
    eq(i, gen.COUNT)
    eq(bad, [], "verdicts that differ from CPython's")


def test_scan_in_use_agrees_with_cpython():
    v.use_native_scan(True)
    fn = v._scanner()
    if RUNTIME == "micropython":
        true(fn is _scan.scan_viper, "the viper scan is in use on the unix port")
    _replay(fn)


def test_portable_scan_agrees_with_cpython():
    _replay(_scan.scan_py)


def test_parse_json_raises_only_validation_errors():
    keep = v.obj({}, v.KEEP)
    text = v.list_of(v.text(0, 64, allow_control=True), 0, 64)
    n = 0
    for data in gen.inputs():
        for s in (keep, text):
            try:
                v.parse_json(data, s)
                n += 1
            except v.ValidationError:
                pass
        data = None
        gc.collect()
    true(n > 0, "some inputs accepted")
