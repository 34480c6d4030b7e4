"""Short fuzz run of sbd.validate.parse_json (part of `make test`; the long run is `make fuzz`).

Only two outcomes are allowed: a valid result or ValidationError; whatever is
accepted must be strict JSON without duplicate keys (see validate_fuzzing).
"""

from __future__ import annotations

import json
import random

import pytest
import validate_fuzzing as fz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NAMES = sorted(fz.SCHEMAS)
# bench/fuzz_validate.py raises the count through SBD_FUZZ_EXAMPLES.
FAST = settings(
    max_examples=fz.env_int("SBD_FUZZ_EXAMPLES", 300),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda kids: st.lists(kids, max_size=6) | st.dictionaries(st.text(max_size=10), kids, max_size=6),
    max_leaves=30,
)


def check(name: str, data: bytes) -> str:
    try:
        return fz.outcome(name, data)
    except fz.OracleError:
        raise
    except Exception as e:  # any other exception is a finding
        raise AssertionError("%s: %r raised %s: %s" % (name, data[:200], type(e).__name__, e)) from e


@FAST
@given(st.sampled_from(NAMES), st.binary(max_size=600))
def test_raw_bytes(name: str, data: bytes) -> None:
    check(name, data)


@FAST
@given(st.sampled_from(NAMES), json_values)
def test_random_json(name: str, doc: object) -> None:
    check(name, json.dumps(doc).encode())


@FAST
@given(st.sampled_from(NAMES), st.randoms(use_true_random=False))
def test_mutated_valid_documents(name: str, rng: random.Random) -> None:
    _, _, valid = fz.SCHEMAS[name]
    check(name, fz.mutate_bytes(rng, valid))
    tree = fz.mutate_tree(rng, json.loads(valid))
    check(name, json.dumps(tree).encode())


@FAST
@given(st.sampled_from(NAMES), st.integers(1, 5000), st.sampled_from([b"[", b'{"a":', b'[{"x":']), st.booleans())
def test_deep_nesting(name: str, depth: int, opener: bytes, closed: bool) -> None:
    closer = {b"[": b"]", b'{"a":': b"}", b'[{"x":': b"}]"}[opener]
    data = opener * depth + (b"1" + closer * depth if closed else b"")
    rule = check(name, data)
    assert rule != "ok" or depth <= 3


@FAST
@given(st.sampled_from(NAMES), st.integers(-(10**600), 10**600) | st.sampled_from([10**4000, -(10**4299)]))
def test_huge_numbers(name: str, n: int) -> None:
    _, _, valid = fz.SCHEMAS[name]
    doc = json.loads(valid)
    for path in fz._paths(doc)[1:]:
        parent = doc
        for seg in path[:-1]:
            parent = parent[seg]
        if isinstance(parent[path[-1]], (int, float)) and not isinstance(parent[path[-1]], bool):
            parent[path[-1]] = n
    check(name, json.dumps(doc).encode())
    check(name, str(n).encode())


@FAST
@given(st.sampled_from(NAMES), st.binary(min_size=1, max_size=8), st.integers(0, 10**6))
def test_invalid_utf8(name: str, junk: bytes, where: int) -> None:
    _, _, valid = fz.SCHEMAS[name]
    i = where % (len(valid) + 1)
    check(name, valid[:i] + b"\xff" + junk + valid[i:])
    j = valid.find(b'"', i)
    if j >= 0:  # inside a string
        check(name, valid[: j + 1] + b"\xc3" + junk[:1] + valid[j + 1 :])


@FAST
@given(st.sampled_from(NAMES), st.integers(0, 50), st.randoms(use_true_random=False))
def test_duplicate_keys(name: str, k: int, rng: random.Random) -> None:
    _, _, valid = fz.SCHEMAS[name]
    if not valid.startswith(b"{"):
        return
    members = list(json.loads(valid).items())
    key, val = members[k % len(members)]
    body = ", ".join(json.dumps(m[0]) + ": " + json.dumps(m[1]) for m in members)
    dup = json.dumps(key) + ": " + json.dumps(val if rng.random() < 0.5 else fz.rand_json(rng))
    data = ("{" + body + ", " + dup + "}").encode()
    assert check(name, data) != "ok"


@pytest.mark.parametrize("name", NAMES)
def test_valid_documents_accepted(name: str) -> None:
    assert check(name, fz.SCHEMAS[name][2]) == "ok"


def test_generator_mix_quick() -> None:
    stats = fz.run(random.Random(20240611), 4000)
    assert stats.get("ok", 0) > 50 and len(stats) > 20


def test_saved_corpus_outcomes_on_cpython() -> None:
    corpus = fz.read_corpus()
    assert corpus, "tests/device/data/validate_corpus is empty: run bench/fuzz_validate.py --write-corpus"
    total = 0
    for name, items in corpus.items():
        for data, rule in items:
            assert check(name, data) == rule, (name, data[:100])
            total += 1
    assert 100 <= total <= 1000
