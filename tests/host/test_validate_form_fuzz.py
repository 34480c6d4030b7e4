"""Short fuzz run of sbd.validate.form and sbd.validate.layout (part of `make test`).

Only two outcomes are allowed: a valid result or ValidationError; whatever is
accepted must agree with CPython's own reading (see validate_form_fuzzing).
The long run is bench/fuzz_validate.py (`make fuzz`).
"""

from __future__ import annotations

import random

import pytest
import validate_form_fuzzing as fz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from validate_fuzzing import env_int

FAST = settings(
    max_examples=env_int("SBD_FUZZ_EXAMPLES", 300),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
FORMS = sorted(fz.FORMS)
LAYOUTS = sorted(fz.LAYOUTS)

url_chars = st.sampled_from([chr(c) for c in range(0x21, 0x7F)])
form_texts = st.lists(
    st.sampled_from(
        ["ssid", "password", "port", "hidden", "gain", "mode", "level", "pins", "key", "a", "t", "x"]
    ).flatmap(
        lambda k: st.tuples(
            st.just(k),
            st.text(url_chars, max_size=12)
            | st.sampled_from(
                ["", "1", "-1", "0", "08", "on", "true", "1.5", "1e400", "ap", "0aff", "%C3%A9", "%C0%AF", "%zz", "a+b"]
            ),
        )
    ),
    max_size=10,
)


def check(fn: object, name: str, data: bytes) -> str:
    try:
        return fz.form_outcome(name, data) if fn == "form" else fz.layout_outcome(name, data)
    except fz.OracleError:
        raise
    except Exception as e:  # any other exception is a finding
        raise AssertionError("%s %s: %r raised %s: %s" % (fn, name, data[:200], type(e).__name__, e)) from e


@pytest.mark.parametrize("name", FORMS)
def test_valid_forms_accepted(name: str) -> None:
    assert check("form", name, fz.FORM_VALID[name]) == "ok"


@pytest.mark.parametrize("name", LAYOUTS)
def test_valid_records_accepted(name: str) -> None:
    assert check("layout", name, fz.LAYOUT_VALID[name]) == "ok"


@FAST
@given(st.sampled_from(FORMS), st.binary(max_size=600))
def test_form_raw_bytes(name: str, data: bytes) -> None:
    check("form", name, data)


@FAST
@given(st.sampled_from(FORMS), form_texts)
def test_form_structured(name: str, pairs: list[tuple[str, str]]) -> None:
    check("form", name, "&".join(k + "=" + val for k, val in pairs).encode())


@FAST
@given(st.sampled_from(FORMS), st.randoms(use_true_random=False))
def test_form_mutated_valid(name: str, rng: random.Random) -> None:
    check("form", name, fz.mutate_form(rng, fz.FORM_VALID[name]))


@FAST
@given(st.sampled_from(FORMS), st.binary(min_size=1, max_size=4))
def test_form_percent_encoded_bytes(name: str, raw: bytes) -> None:
    enc = "".join("%%%02X" % c for c in raw).encode()
    rule = check("form", name, b"ssid=" + enc + b"&password=12345678" if name == "wifi" else b"t=" + enc)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        assert rule == "not UTF-8"


@FAST
@given(st.sampled_from(LAYOUTS), st.binary(max_size=40))
def test_layout_raw_bytes(name: str, data: bytes) -> None:
    check("layout", name, data)


@FAST
@given(st.sampled_from(LAYOUTS), st.randoms(use_true_random=False))
def test_layout_mutated_valid(name: str, rng: random.Random) -> None:
    check("layout", name, fz.mutate_record(rng, fz.LAYOUT_VALID[name]))


@FAST
@given(st.sampled_from(LAYOUTS), st.data())
def test_layout_right_size(name: str, data: st.DataObject) -> None:
    size = fz.LAYOUTS[name].size
    check("layout", name, data.draw(st.binary(min_size=size, max_size=size)))


def test_generator_mix_quick() -> None:
    stats = fz.run(random.Random(20240612), 4000)
    assert stats.get("form:ok", 0) > 20 and stats.get("layout:ok", 0) > 20 and len(stats) > 20


def test_saved_corpus_matches_the_oracles() -> None:
    # The corpus the device test replays: written with the fuzzer's schemas, and
    # every input still gets CPython's stored outcome and passes the oracles.
    dev = fz._device_module()
    corpus = fz.read_corpus()
    assert sorted(corpus) == ["form_keep", "form_wifi", "layout_header", "layout_sample"]
    for fname, items in corpus.items():
        kind, name = fname.split("_", 1)
        assert len(items) >= 30
        for data, want in items:
            check(kind, name, data)
            assert dev.outcome(kind, name, data) == want, (fname, data[:80])
