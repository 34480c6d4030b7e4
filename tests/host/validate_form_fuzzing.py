"""Fuzzing support for sbd.validate.form and sbd.validate.layout: oracles and generators.

Used by tests/host/test_validate_form_fuzz.py (short hypothesis run in `make test`)
and bench/fuzz_validate.py (the long run behind `make fuzz`).

The oracles: parse_query and Layout.parse return a value or raise ValidationError,
nothing else; and what they accept is checked against an independent reading:
- a form must be printable ASCII within max_bytes, decode the same way through
  CPython's urllib.parse (strict UTF-8), hold no duplicate key except for list
  fields, and every converted value must equal CPython's reading of the text;
- a record must be exactly the layout's size, unpack to the same values with
  CPython's struct, satisfy every field's bound, and pack back to the same bytes.
"""

from __future__ import annotations

import random
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parents[2]
DEVICE_TESTS = ROOT / "tests" / "device"
if str(DEVICE_TESTS) not in sys.path:
    sys.path.append(str(DEVICE_TESTS))

import corpus_files  # noqa: E402  (tests/host)

from sbdtools import shims  # noqa: E402

shims.install()

from sbd import validate as v  # noqa: E402
from sbd.validate import form  # noqa: E402
from sbd.validate.layout import Layout  # noqa: E402
from validate_form_schemas import FORM_MAX_BYTES, FORMS, HEADER, LAYOUTS  # noqa: E402  (tests/device)

FORM_VALID = {
    "wifi": b"ssid=my+home%C3%A9&password=12345678&port=8080&hidden=on&gain=-1.5e0&mode=sta&level=2"
    b"&pins=1&pins=40&key=0aff",
    "keep": b"a=3&t=hello+world&x=%E2%9C%93&y=",
}
_KINDS = {
    "ssid": "text",
    "password": "text",
    "port": "int",
    "hidden": "bool",
    "gain": "float",
    "mode": "text",
    "level": "int",
    "pins": "list",
    "key": "hex",
    "a": "int",
    "t": "text",
}

LAYOUT_VALID = {
    "header": b"SBD1\x01\x02\x00\x04\x00\x00\x00\x78\x56\x34\x12\xfe\xff",
    "sample": b"\x00\x00\x00\x00\x00\x00\x00\x2a\x00\x00\x5d\xc0\x04\xc4",
}


class OracleError(AssertionError):
    pass


# ---- oracles ------------------------------------------------------------------------------


def form_outcome(name: str, data: bytes) -> str:
    """Run parse_query on one input; "ok" or the rule; raise OracleError on anything wrong."""
    schema = FORMS[name]
    try:
        got = form.parse_query(data, schema, max_bytes=FORM_MAX_BYTES, name=name)
    except v.ValidationError as e:
        return str(e.rule)
    if len(data) > FORM_MAX_BYTES or any(c < 0x21 or c > 0x7E for c in data):
        raise OracleError("accepted raw bytes that are not URL-encoded or above max_bytes")
    try:
        pairs = parse_qsl(
            data.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            separator="&",
        )
    except UnicodeDecodeError as e:
        raise OracleError("accepted invalid UTF-8: %s" % e) from e
    seen: dict[str, list[str]] = {}
    for k, val in pairs:
        seen.setdefault(k, []).append(val)
    fields = dict(schema[3])
    for k, vals in seen.items():
        kind = _KINDS.get(k) if k in fields else None
        if len(vals) > 1 and kind != "list":
            raise OracleError("accepted a duplicate key %r" % k)
        if kind is None:
            if got.get(k) != vals[0]:
                raise OracleError("kept field %r differs: %r" % (k, got.get(k)))
            continue
        want = [_read(kind if kind != "list" else "int", x) for x in vals]
        want = [x for x in want if x is not _ABSENT]
        if kind == "list":
            if got.get(k) != want:
                raise OracleError("list %r differs: %r != %r" % (k, got.get(k), want))
        elif want and got.get(k) != want[0]:
            raise OracleError("field %r differs: %r != %r" % (k, got.get(k), want[0]))
    return "ok"


_ABSENT = object()


def _read(kind: str, text: str) -> Any:
    """CPython's reading of an accepted value (the parser already checked its grammar)."""
    if kind in ("text",):
        return text
    if not text:
        return _ABSENT
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        return text in ("true", "on", "1")
    if kind == "hex":
        return bytes.fromhex(text)
    raise AssertionError(kind)


def layout_outcome(name: str, data: bytes) -> str:
    """Run Layout.parse on one input; "ok" or the rule; raise OracleError on anything wrong."""
    lay = LAYOUTS[name]
    try:
        got = lay.parse(data)
    except v.ValidationError as e:
        return str(e.rule)
    if len(data) != lay.size:
        raise OracleError("accepted %d bytes for a %d-byte layout" % (len(data), lay.size))
    want = dict(zip(lay.names, struct.unpack(lay.fmt, data), strict=True))
    if got != want:
        raise OracleError("unpacked %r, CPython's struct reads %r" % (got, want))
    packed = lay.pack(got)
    if _without_padding(lay, packed) != _without_padding(lay, data):
        raise OracleError("pack(parse(data)) != data")
    if name == "header" and not (
        got["magic"] == b"SBD1"
        and got["version"] == 1
        and got["kind"] in (1, 2, 7)
        and 0 <= got["length"] <= 1024
        and got["reserved"] == b"\0\0"
        and -100 <= got["step"] <= 100
    ):
        raise OracleError("accepted a header outside its bounds: %r" % got)
    if name == "sample" and not (-40000 <= got["t"] <= 85000 and got["flags"] in (0, 1, 2, 4)):
        raise OracleError("accepted a sample outside its bounds: %r" % got)
    return "ok"


def _without_padding(lay: Layout, data: bytes) -> bytes:
    # HEADER's one pad byte is at offset 10; SAMPLE has none.
    return data[:10] + data[11:] if lay is HEADER else data


# ---- generators (plain random, fast: the long run uses these) ------------------------------

_FORM_PIECES = [
    b"%",
    b"%2",
    b"%zz",
    b"%C3",
    b"%C3%A9",
    b"%C0%AF",
    b"%ED%A0%80",
    b"%F4%90%80%80",
    b"%FF",
    b"+",
    b"&",
    b"=",
    b"&&",
    b"==",
    b"%00",
    b"%0A",
    b"%7F",
    b"-",
    b"0",
    b"08",
    b"1e400",
    b"1.5",
    b"on",
    b"true",
    b"9" * 30,
    b" ",
    b"\xc3\xa9",
    b"\x00",
    b"pins=",
    b"ssid=",
    b"port=",
    b"%26",
    b"%3D",
]


def mutate_form(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        i = rng.randint(0, len(b))
        if op < 0.3:
            b[i:i] = rng.choice(_FORM_PIECES)
        elif op < 0.5 and b:
            del b[i : i + rng.randint(1, 6)]
        elif op < 0.65 and b:
            j = rng.randint(0, len(b) - 1)
            b[j] = rng.randint(0, 255) if rng.random() < 0.3 else rng.randint(0x21, 0x7E)
        elif op < 0.8:
            k = rng.choice([*_KINDS, "x", "zz"])
            b[i:i] = ("&%s=%s" % (k, rng.choice(["", "1", "-3", "a+b", "%41", "40", "ap", "true"]))).encode()
        elif op < 0.9 and b:  # duplicate a field
            parts = bytes(b).split(b"&")
            b += b"&" + rng.choice(parts)
        else:
            b += b"&" * rng.randint(0, 40) if rng.random() < 0.5 else b"a" * rng.randint(0, 600)
    return bytes(b)


def mutate_record(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        if op < 0.6 and b:
            b[rng.randrange(len(b))] = rng.randint(0, 255)
        elif op < 0.75 and b:
            del b[rng.randrange(len(b))]
        elif op < 0.9:
            b.insert(rng.randint(0, len(b)), rng.randint(0, 255))
        else:
            b = bytearray(rng.randbytes(rng.randint(0, 40)))
    return bytes(b)


def run(rng: random.Random, count: int, on_case: Callable[[str, bytes, str], None] | None = None) -> dict[str, int]:
    """count random form and record inputs; the outcome counts keyed "form:<rule>" / "layout:<rule>"."""
    stats: dict[str, int] = {}
    for i in range(count):
        if i & 1:
            name = rng.choice(sorted(FORMS))
            data = mutate_form(rng, FORM_VALID[name]) if rng.random() < 0.9 else rng.randbytes(rng.randint(0, 80))
            key = "form:" + form_outcome(name, data)
        else:
            name = rng.choice(sorted(LAYOUTS))
            data = mutate_record(rng, LAYOUT_VALID[name])
            key = "layout:" + layout_outcome(name, data)
        stats[key] = stats.get(key, 0) + 1
        if on_case is not None:
            on_case(name, data, key)
    return stats


# ---- saved corpus (replayed on MicroPython by tests/device/test_validate_form_corpus.py) -----

CORPUS_DIR = DEVICE_TESTS / "data" / "validate_form_corpus"
CORPUS_SEED = 20240613
CORPUS_DRAWS = 30_000  # generated inputs the corpus is picked from
CORPUS_PER_OUTCOME = 2  # inputs kept for each (parser, schema, error path and rule)
CORPUS_PER_OK = 20  # accepted inputs kept per schema (each converts differently)
CORPUS_PER_FILE = 150  # at most this many inputs per schema
CORPUS_RANDOM = 0.004  # chance of keeping any other input (mostly accepted ones)


def _device_module() -> Any:
    # tests/device: the outcome() both runtimes compare (the schemas are shared,
    # validate_form_schemas.py, so there is nothing to keep in step).
    import test_validate_form_corpus as dev

    return dev


def _edge_cases() -> list[tuple[str, str, bytes]]:
    """Near-valid inputs at the bounds, always in the corpus."""
    out: list[tuple[str, str, bytes]] = []
    for name, valid in FORM_VALID.items():
        out.append(("form", name, valid))
        pad = b"&" + b"x" * 10 if name == "keep" else b"&"
        for extra in (FORM_MAX_BYTES - len(valid), FORM_MAX_BYTES - len(valid) + 1):
            out.append(("form", name, valid + (pad + b"=" + b"a" * 600)[:extra]))
        out.append(("form", name, b""))
    for name, valid in LAYOUT_VALID.items():
        out += [
            ("layout", name, valid),
            ("layout", name, valid[:-1]),
            ("layout", name, valid + b"\0"),
            ("layout", name, b""),
        ]
    return out


def collect_corpus(seed: int = CORPUS_SEED, draws: int = CORPUS_DRAWS) -> dict[str, list[tuple[bytes, str]]]:
    """{"form_wifi": [(input, outcome), ...], ...}: the outcomes as CPython gives them."""
    dev = _device_module()
    rng = random.Random(seed)
    pick = random.Random(seed + 1)
    files: dict[str, list[tuple[bytes, str]]] = {}
    counts: dict[tuple[str, str], int] = {}
    have: set[tuple[str, bytes]] = set()

    def add(kind: str, name: str, data: bytes, forced: bool) -> None:
        fname = kind + "_" + name
        items = files.setdefault(fname, [])
        if len(data) > dev.MAX_INPUT or (fname, data) in have or (len(items) >= CORPUS_PER_FILE and not forced):
            return
        got = dev.outcome(kind, name, data)
        key = (fname, got if got.startswith("error") else "ok")
        c = counts.get(key, 0)
        limit = CORPUS_PER_OUTCOME if key[1] != "ok" else CORPUS_PER_OK
        if forced or c < limit or pick.random() < CORPUS_RANDOM:
            counts[key] = c + 1
            have.add((fname, data))
            items.append((data, got))

    for kind, name, data in _edge_cases():
        (form_outcome if kind == "form" else layout_outcome)(name, data)  # the oracle first
        add(kind, name, data, True)

    def on_case(name: str, data: bytes, key: str) -> None:
        add(key.split(":", 1)[0], name, data, False)

    run(rng, draws, on_case)
    return files


def write_corpus(files: dict[str, list[tuple[bytes, str]]]) -> None:
    # u16 outcome lengths: an accepted form's outcome is its whole result.
    corpus_files.write(CORPUS_DIR, files, ">HH", prune=True)


def read_corpus() -> dict[str, list[tuple[bytes, str]]]:
    return corpus_files.read(CORPUS_DIR, ">HH")


if __name__ == "__main__":  # refresh only this corpus: python tests/host/validate_form_fuzzing.py
    corpus = collect_corpus()
    write_corpus(corpus)
    print(
        "form/layout corpus: %s in %s"
        % (", ".join("%s %d" % (k, len(x)) for k, x in sorted(corpus.items())), CORPUS_DIR)
    )
