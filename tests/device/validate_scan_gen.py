# Deterministic JSON-ish inputs for the pre-scan's differential test, the same
# bytes on MicroPython and CPython (integer arithmetic only): grammar-built
# documents (valid JSON with random whitespace, escapes, UTF-8, numbers),
# then, for most, byte flips, deletions, truncations and insertions of
# tokens that trip lax parsers.  tests/host/validate_scan_fuzzing.py gives
# each input CPython's strict verdict; test_validate_scan.py replays them on
# both runtimes against the verdicts saved in data/validate_scan_verdicts.bin.

COUNT = 3000  # inputs in `make test`
SEED = 7

_TOKENS = (
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b" ",
    b'"',
    b"\\",
    b"\\u",
    b"\\ud83d",
    b"\\ude00",
    b"\\ud800",
    b"\\udc00",
    b"\\u00e9",
    b"\\uabc",
    b"\\uzzzz",
    b"\\q",
    b"\\/",
    b"0",
    b"-",
    b"01",
    b"1.",
    b".5",
    b"e",
    b"E+",
    b"-0.0e-0",
    b"1" * 33,
    b"9" * 32,
    b"true",
    b"tru",
    b"false",
    b"null",
    b"NaN",
    b"Infinity",
    b"\xc3\xa9",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf0\x9f\x98\x80",
    b"\xf4\x90\x80\x80",
    b"\xe2\x82",
    b"\xff",
    b"\x80",
    b"\x00",
    b"\x1f",
    b"\x7f",
    b"\t",
    b"\n",
    b"\r",
    b"\x0c",
    b'"a":1',
    b',"b":',
    b"[[",
    b"]]",
    b"{}",
    b"[]",
    b'"\\"',
    b"+",
)
_KEYS = (b'"a"', b'"b"', b'"id"', b'"caf\xc3\xa9"', b'""', b'"\\u0041"', b'"\\ud83d\\ude00"', b'"x\\ny"')
_STR_PARTS = (
    b"a",
    b"bc",
    b" ",
    b"\\n",
    b"\\\\",
    b'\\"',
    b"\\/",
    b"\\b\\f\\r\\t",
    b"\\u0000",
    b"\\u001F",
    b"\\u007f",
    b"\\u00E9",
    b"\\uD83D\\uDE00",
    b"\\udbff\\udfff",
    b"\xc3\xa9",
    b"\xe2\x82\xac",
    b"\xf0\x9f\x98\x80",
    b"\xf4\x8f\xbf\xbf",
    b"\xef\xbf\xbf",
    b"\x7f",
    b"{[:,]}",
    b"0",
)
_WS = (b"", b"", b"", b" ", b"\n", b"\t ", b"\r\n")


class Rng:
    # xorshift32: identical on both runtimes, no floats.
    def __init__(self, seed):
        self.s = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1

    def next(self):
        x = self.s
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.s = x
        return x

    def below(self, n):
        return self.next() % n

    def pick(self, seq):
        return seq[self.next() % len(seq)]


def _number(r, out):
    if r.below(4) == 0:
        out += b"-"
    k = r.below(3)
    out += b"0" if k == 0 else b"123456789"[r.below(9) :][:1] + b"0123456789"[: r.below(12)]
    if r.below(3) == 0:
        out += b"." + b"5072"[: 1 + r.below(4)]
    if r.below(4) == 0:
        out += r.pick((b"e", b"E", b"e+", b"E-")) + b"13"[: 1 + r.below(2)]


def _value(r, out, depth):
    k = r.below(10 if depth < 4 else 6)
    out += r.pick(_WS)
    if k < 2:
        _number(r, out)
    elif k < 4:
        out += b'"'
        for _ in range(r.below(4)):
            out += r.pick(_STR_PARTS)
        out += b'"'
    elif k == 4:
        out += r.pick((b"true", b"false", b"null"))
    elif k == 5:
        out += b"[]" if r.below(2) else b"{}"
    elif k < 8:
        out += b"["
        for i in range(1 + r.below(4)):
            if i:
                out += b","
            _value(r, out, depth + 1)
        out += b"]"
    else:
        out += b"{"
        for i in range(1 + r.below(4)):
            if i:
                out += b","
            out += r.pick(_WS) + r.pick(_KEYS) + r.pick(_WS) + b":"
            _value(r, out, depth + 1)
        out += b"}"
    out += r.pick(_WS)


def make(r):
    """One input from the generator state r."""
    out = bytearray()
    _value(r, out, 0)
    out = bytes(out)
    muts = r.below(4)
    for _ in range(muts):
        n = len(out)
        i = r.below(n + 1)
        k = r.below(5)
        if k == 0 and n:
            i %= n
            out = out[:i] + bytes([out[i] ^ (1 << r.below(8))]) + out[i + 1 :]
        elif k == 1 and n:
            out = out[:i] + out[i + 1 + r.below(3) :]
        elif k == 2:
            out = out[:i] + r.pick(_TOKENS) + out[i:]
        elif k == 3:
            out = out[:i]
        else:
            out = out[:i] + bytes([r.below(256)]) + out[i:]
    return bytes(out)


def inputs(count=COUNT, seed=SEED):
    r = Rng(seed)
    for _ in range(count):
        yield make(r)
