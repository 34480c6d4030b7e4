"""The pre-scan accepts exactly what CPython's strict parser accepts (issue 7).

Both implementations (scan_py and scan_viper, the latter run as plain Python
through the shims) against the reference of validate_scan_fuzzing, on the
device generator's inputs, json.dumps output and mutations of both, the saved
fuzz corpus and hand-picked edge cases.  `make fuzz` runs a million.
"""

from __future__ import annotations

import inspect
import random

import pytest
import validate_fuzzing as fz
import validate_scan_fuzzing as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sbd.validate import _scan

FAST = settings(
    max_examples=fz.env_int("SBD_FUZZ_EXAMPLES", 300),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

EDGES = [
    b"",
    b" ",
    b"0",
    b"-0",
    b"01",
    b"-",
    b"1.",
    b".5",
    b"1e5",
    b"1E+5",
    b"1e",
    b"1.5e-",
    b"0x1",
    b"+1",
    b"1" * 32,
    b"1" * 33,
    b"-" + b"1" * 31,
    b"-" + b"1" * 32,
    b"0." + b"0" * 30,
    b"0." + b"0" * 31,
    b"true",
    b"tru",
    b"truee",
    b"null ",
    b"NaN",
    b"-Infinity",
    b"[]",
    b"[1,]",
    b"[,]",
    b"{}",
    b'{"a":1,}',
    b'{"a" 1}',
    b'{"a":1 "b":2}',
    b'{"a"}',
    b'{"a":1,"b"}',
    b"[1]]",
    b"[[1]",
    b'{"a":1]',
    b"[1}",
    b'"\\ud800"',
    b'"\\udc00"',
    b'"\\ud83d\\ude00"',
    b'"\\ud83d\\u0041"',
    b'"\\ud83d"',
    b'"\\ud83d\\"',
    b'"\\ud83d\\ud83d"',
    b'"\\uabc\\"',
    b'"\\u00e9"',
    b'"\\uZZZZ"',
    b'"\\q"',
    b'"\\\xc0\\\xaf"',
    b'"\xc0\xaf"',
    b'"\xed\xa0\x80"',
    b'"\xf4\x90\x80\x80"',
    b'"\xf4\x8f\xbf\xbf"',
    b'"\xef\xbb\xbf"',
    b"\xef\xbb\xbf[]",
    b'"\x7f"',
    b'"\x1f"',
    b'"\\u0000"',
    b"[1]\x00",
    b"1\x00junk",
    b"[\x0c]",
    b"[\xa0]",
    b'["a":1]',
    b'{"\\ud800":1}',
]


def test_edge_cases() -> None:
    for data in EDGES:
        assert sf.check(data) is not None, data


def test_self_test_inputs() -> None:
    for data in _scan._SELF_TEST:
        sf.check(data)


def test_saved_verdicts_are_current() -> None:
    # tests/device/test_validate_scan.py replays the generator's inputs on
    # MicroPython against these bits; refresh with bench/fuzz_validate.py --write-corpus.
    assert sf.VERDICTS.read_bytes() == sf.device_verdicts()


def test_device_generator_inputs() -> None:
    accepted = sum(bool(sf.check(d)) for d in sf.device_inputs())
    assert 300 < accepted < sf.gen.COUNT - 300  # a mix of both verdicts


def test_generated_and_mutated() -> None:
    stats = sf.run(random.Random(20261130), 3000)
    assert stats["accepted"] > 300 and stats["refused"] > 300


def test_saved_corpus() -> None:
    for items in fz.read_corpus().values():
        for data, _ in items:
            sf.check(data)


@FAST
@given(st.binary(max_size=64))
def test_raw_bytes(data: bytes) -> None:
    sf.check(data)


@FAST
@given(st.sampled_from(EDGES), st.sampled_from(EDGES), st.randoms(use_true_random=False))
def test_spliced_edges(a: bytes, b: bytes, rng: random.Random) -> None:
    sf.check(b"[" + a + b"," + b + b"]")
    sf.check(sf.mutate(rng, b'{"k":' + a + b"}"))


def _body(fn: object) -> list[str]:
    lines = inspect.getsource(fn).splitlines()  # type: ignore[arg-type]
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("s = "))
    return lines[start + 1 :]


def test_viper_and_portable_bodies_are_the_same_text() -> None:
    # After their first lines (the viper one casts its buffers with ptr8),
    # the two implementations are one text: the differential tests above
    # then test the viper logic too.
    assert _body(_scan.scan_viper) == _body(_scan.scan_py)


@pytest.mark.parametrize("seed", [1, 2])
def test_join_pairs_matches_cpython(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        s = "".join(rng.choice(["a", "\\", "\U0001f600", "\U0010ffff", "\u00e9", "\n", '"']) for _ in range(8))
        data = fz.json.dumps([s, {s: s}]).encode()
        st_ = bytearray(len(data))
        r = _scan.scan_py(data, len(data), 8, 100, st_)
        assert r >= 0
        joined = bytes(_scan.join_pairs(data, len(data)))
        assert fz.json.loads(joined) == fz.json.loads(data)
        assert (b"\\ud" in data.lower()) == bool(r & _scan.SCAN_PAIRS) or b"\\\\ud" in data.lower()
