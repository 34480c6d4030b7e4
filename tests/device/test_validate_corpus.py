# Replays the saved fuzz corpus (tests/device/data/validate_corpus/*.bin, made by
# bench/fuzz_validate.py --write-corpus) under the board's heap.  Allowed: a
# valid result or ValidationError; never another exception, never a
# MemoryError (every input is within its schema's max_bytes or rejected by
# size first).  The outcome must also be the one CPython gave when the corpus
# was written: both runtimes accept and reject the same documents.
# sbd-device: heapsize=64K timeout=300
import gc

from dtest import data_path, eq, true
from sbd import validate as v
from validate_schemas import ALL

# One buffer, allocated before the heap fragments; inputs are read into it and
# parsed through a memoryview, as an app reading a socket or a file would.
_BUF = memoryview(bytearray(2200))
_STACK = bytearray(8)  # the pre-scan's stack, for the deepest limit below


def _records(name):
    # u16 input length, u8 outcome length, outcome, input (validate_fuzzing.py)
    with open(data_path("validate_corpus/" + name + ".bin"), "rb") as f:
        while True:
            head = f.read(3)
            if not head:
                return
            want = f.read(head[2]).decode()
            n = (head[0] << 8) | head[1]
            f.readinto(_BUF[:n])
            yield _BUF[:n], want


def _replay(name):
    schema, max_bytes, _ = ALL[name]
    n = 0
    bad = []
    for data, want in _records(name):
        try:
            v.parse_json(data, schema, max_bytes=max_bytes, name=name)
            got = "ok"
        except v.ValidationError as e:
            got = e.rule
        # anything else (MemoryError included) propagates and fails the test
        if got != want:
            bad.append("%d: %r -> %r, CPython %r" % (n, bytes(data[:60]), got, want))
        n += 1
        data = None
        gc.collect()
    true(n >= 40, "corpus for %s has inputs" % name)
    eq(bad, [], "outcomes that differ from CPython")


def test_corpus_config():
    _replay("config")


def test_corpus_manifest():
    _replay("manifest")


def test_corpus_command():
    _replay("command")


def test_corpus_readings():
    _replay("readings")


def test_portable_scan_on_the_corpus():
    # The viper pre-scan and the portable one agree input by input.
    from sbd.validate._scan import scan_py

    fast = v._scanner()
    for name in ALL:
        for data, _ in _records(name):
            if len(data) > 1024:  # the copy scan_py needs would not fit next to _BUF
                continue
            data = bytes(data)
            for lim in ((3, 40), (8, 300)):
                eq(
                    fast(data, len(data), lim[0], lim[1], _STACK),
                    scan_py(data, len(data), lim[0], lim[1], _STACK),
                    repr(bytes(data[:60])),
                )
            data = None
