# Replays the saved form / query-string and binary-layout fuzz corpus
# (tests/device/data/validate_form_corpus/*.bin, written by
# bench/fuzz_validate.py --write-corpus through tests/host/validate_form_fuzzing.py)
# under the board's heap.  Allowed: a valid result or ValidationError; never
# another exception (MemoryError included).  The outcome -- the whole result,
# or the error's path and rule -- must be the one CPython gave when the corpus
# was written, so both runtimes accept, convert and reject the same inputs.
# The schemas are the fuzzer's own (validate_form_schemas.py); outcome() is
# what both sides compare.
# sbd-device: heapsize=64K timeout=300
import gc
import struct
from binascii import hexlify

from dtest import data_path, eq, true
from sbd import validate as v
from sbd.validate import form
from validate_form_schemas import FORM_MAX_BYTES, FORMS, LAYOUTS

MAX_INPUT = 700  # longest stored input (forms above FORM_MAX_BYTES are rejected by size first)

# One buffer, allocated before the heap fragments; inputs are read into it and
# parsed through a memoryview, as an app reading a socket or a file would.
_BUF = memoryview(bytearray(MAX_INPUT))


def _hex(b):
    return hexlify(b).decode()


def render(x):
    # A result as text that is the same on both runtimes: dict keys sorted,
    # text and bytes as hex, floats as their IEEE-754 bits (repr differs).
    t = type(x)
    if t is bool:
        return "T" if x else "F"
    if t is int:
        return "%d" % x
    if t is float:
        return "f" + _hex(struct.pack("<d", x))
    if t is str:
        return "s" + _hex(x.encode())
    if t is bytes:
        return "y" + _hex(x)
    if t is list:
        return "[" + ",".join([render(i) for i in x]) + "]"
    if t is dict:
        return "{" + ",".join([render(k) + ":" + render(x[k]) for k in sorted(x)]) + "}"
    return "?" + t.__name__


def outcome(kind, name, data):
    """ "ok <result>" or "error <path>: <rule>"; any other exception propagates."""
    try:
        if kind == "form":
            got = form.parse_query(data, FORMS[name], max_bytes=FORM_MAX_BYTES, name=name)
        else:
            got = LAYOUTS[name].parse(data)
    except v.ValidationError as e:
        return "error " + e.path + ": " + e.rule
    return "ok " + render(got)


def records(fname):
    # u16 input length, u16 outcome length, outcome (ASCII), input; big-endian.
    with open(data_path("validate_form_corpus/" + fname), "rb") as f:
        while True:
            head = f.read(4)
            if not head:
                return
            n = (head[0] << 8) | head[1]
            want = f.read((head[2] << 8) | head[3]).decode()
            f.readinto(_BUF[:n])
            yield _BUF[:n], want


def _replay(kind, name, least):
    n = 0
    bad = []
    errors = 0
    for data, want in records(kind + "_" + name + ".bin"):
        got = outcome(kind, name, data)  # anything but ValidationError fails the test
        if got != want:
            bad.append("%d: %r -> %r, CPython %r" % (n, bytes(data[:60]), got[:80], want[:80]))
        if got[0] == "e":
            errors += 1
        n += 1
        data = got = want = None
        gc.collect()
    true(n >= least, "corpus %s_%s has %d inputs" % (kind, name, n))
    true(0 < errors < n, "corpus %s_%s holds accepted and rejected inputs" % (kind, name))
    eq(bad, [], "outcomes that differ from CPython")


def test_form_corpus_wifi():
    _replay("form", "wifi", 40)


def test_form_corpus_keep():
    _replay("form", "keep", 40)


def test_layout_corpus_header():
    _replay("layout", "header", 30)


def test_layout_corpus_sample():
    _replay("layout", "sample", 30)
