"""Differential testing of sbd.validate's pre-scan against CPython's strict parser.

The reference, precisely: an input is accepted when
  1. it decodes as UTF-8 (strict: no overlong forms, surrogates or code points
     above U+10FFFF), and
  2. CPython's json.loads parses the text with strict=True (no raw control
     characters in strings) and without its extensions: NaN, Infinity and
     -Infinity are refused (parse_constant), and
  3. no string (key or value) holds a lone surrogate (json.loads takes "\\ud800"
     and an unpaired half; it joins a high and a low escape into one code point), and
  4. every number token is at most MAX_NUMBER (32) characters (sbd's rule, so that
     CPython's 4300-digit limit and MicroPython's bignums cannot disagree).
Inputs nested beyond CPython's recursion limit have no verdict and are skipped.

check(data) runs scan_py and scan_viper (plain Python here, through the shims)
with limits that never bind and raises ScanMismatch unless both agree with the
reference.  Used by tests/host/test_validate_scan_fuzz.py (`make test`) and
bench/fuzz_validate.py (`make fuzz`); the device test replays the inputs of
tests/device/validate_scan_gen.py against the verdicts saved here.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEVICE_TESTS = ROOT / "tests" / "device"
VERDICTS = DEVICE_TESTS / "data" / "validate_scan_verdicts.bin"

if str(DEVICE_TESTS) not in sys.path:
    sys.path.append(str(DEVICE_TESTS))

from sbdtools import shims  # noqa: E402

shims.install()

import validate_scan_gen as gen  # noqa: E402
from sbd.validate import _scan  # noqa: E402

MAX_NUMBER = 32
_BIG = 1 << 30


class ScanMismatch(AssertionError):
    pass


class _Refused(Exception):
    pass


def _constant(s: str) -> Any:
    raise _Refused(s)


def _number(s: str) -> Any:
    if len(s) > MAX_NUMBER:
        raise _Refused("long number")
    return 0


def _no_lone_surrogates(x: Any) -> None:
    if isinstance(x, str):
        if any(0xD800 <= ord(c) <= 0xDFFF for c in x):
            raise _Refused("lone surrogate")
    elif isinstance(x, list):
        for y in x:
            _no_lone_surrogates(y)
    elif isinstance(x, dict):
        for k, y in x.items():
            _no_lone_surrogates(k)
            _no_lone_surrogates(y)


def _pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
    # Every member, before dict() keeps only the last of a duplicate key.
    for k, x in items:
        _no_lone_surrogates(k)
        _no_lone_surrogates(x)
    return dict(items)


def reference(data: bytes) -> bool | None:
    """CPython's strict verdict (see the module doc); None: nested too deep to tell."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    try:
        doc = json.loads(
            text,
            strict=True,
            parse_constant=_constant,
            parse_int=_number,
            parse_float=_number,
            object_pairs_hook=_pairs,
        )
        _no_lone_surrogates(doc)
    except RecursionError:
        return None
    except (ValueError, _Refused):
        return False
    return True


def scan_verdicts(data: bytes) -> tuple[int, int]:
    st = bytearray(len(data) + 1)
    return (_scan.scan_py(data, len(data), _BIG, _BIG, st), _scan.scan_viper(data, len(data), _BIG, _BIG, st))


def check(data: bytes) -> bool | None:
    """Both scans agree with the reference on data; returns the verdict."""
    want = reference(data)
    if want is None:
        return None
    a, b = scan_verdicts(data)
    if a != b:
        raise ScanMismatch("scan_py %d, scan_viper %d on %r" % (a, b, data[:200]))
    # E_NUMBER is the reference's rule 4; any other result below zero is a refusal.
    if (a >= 0) != want:
        raise ScanMismatch("scan %d, reference %s on %r" % (a, want, data[:200]))
    return want


# ---- inputs ----------------------------------------------------------------------------


def device_inputs(count: int = gen.COUNT, seed: int = gen.SEED) -> Iterator[bytes]:
    """The inputs the device test replays (tests/device/validate_scan_gen.py)."""
    return gen.inputs(count, seed)


def device_verdicts(count: int = gen.COUNT, seed: int = gen.SEED) -> bytes:
    """The reference verdicts of device_inputs, one bit each, first input in bit 0 of byte 0.

    An input without a verdict (too deep for CPython) counts as refused: the
    generator never nests that deep, and write_verdicts() checks it."""
    out = bytearray((count + 7) // 8)
    for i, data in enumerate(device_inputs(count, seed)):
        want = reference(data)
        if want is None:
            raise ScanMismatch("generated input %d has no reference verdict" % i)
        if want:
            out[i >> 3] |= 1 << (i & 7)
    return bytes(out)


def write_verdicts() -> None:
    VERDICTS.write_bytes(device_verdicts())


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        n = len(b)
        i = rng.randrange(n + 1)
        r = rng.random()
        if r < 0.3 and n:
            b[min(i, n - 1)] ^= 1 << rng.randrange(8)
        elif r < 0.45:
            del b[i:]  # truncation
        elif r < 0.6 and n:
            del b[i : i + rng.randrange(1, 4)]
        elif r < 0.9:
            b[i:i] = rng.choice(gen._TOKENS)
        else:
            b[i:i] = bytes([rng.randrange(256)])
    return bytes(b)


def _rand_text(rng: random.Random) -> str:
    alphabet = 'ab"\\/\b\f\n\r\t\x00\x1f\x7f\u00e9\u20ac\U0001f600\ud800\udc00\uffff'
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(6)))


def _rand_doc(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth > 4 or r < 0.4:
        return rng.choice(
            [
                0,
                -1,
                10 ** rng.randrange(40),
                -(10 ** rng.randrange(40)),
                0.5,
                -1.25e-7,
                1e300,
                True,
                False,
                None,
                _rand_text(rng),
            ]
        )
    if r < 0.7:
        return [_rand_doc(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {_rand_text(rng): _rand_doc(rng, depth + 1) for _ in range(rng.randrange(4))}


def host_input(rng: random.Random) -> bytes:
    """One input from CPython's json.dumps (both ASCII and raw UTF-8), often mutated."""
    text = json.dumps(
        _rand_doc(rng), ensure_ascii=rng.random() < 0.5, separators=rng.choice([(",", ":"), (", ", ": ")])
    )
    data = text.encode("utf-8", "surrogatepass")
    return mutate(rng, data) if rng.random() < 0.6 else data


def run(rng: random.Random, count: int) -> dict[str, int]:
    """count inputs: device-generator ones, json.dumps ones, mutations of both."""
    stats = {"accepted": 0, "refused": 0, "skipped": 0}
    r = gen.Rng(rng.randrange(1 << 31))
    for i in range(count):
        k = i % 3
        if k == 0:
            data = gen.make(r)
        elif k == 1:
            data = host_input(rng)
        else:
            data = mutate(rng, gen.make(r))
        v = check(data)
        stats["skipped" if v is None else "accepted" if v else "refused"] += 1
    return stats
