"""Fuzzing support for sbd.validate: the oracle, input generators, the corpus.

Used by tests/host/test_validate_fuzz.py (short hypothesis run in `make test`)
and bench/fuzz_validate.py (the long run behind `make fuzz`).  The device
schemas come from tests/device/validate_schemas.py, so the corpus replayed on
real MicroPython is checked against the very same definitions.

The oracle: parse_json may return a value or raise ValidationError, nothing
else; and whatever it accepts is strict JSON (the reference of
validate_scan_fuzzing: CPython's strict parser, no NaN, no lone surrogates,
numbers of at most 32 characters; and no duplicate keys) within the size
bound, so a device never takes a document a host tool would refuse.
"""

from __future__ import annotations

import json
import os
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEVICE_TESTS = ROOT / "tests" / "device"
CORPUS_DIR = DEVICE_TESTS / "data" / "validate_corpus"

if str(DEVICE_TESTS) not in sys.path:
    sys.path.append(str(DEVICE_TESTS))

import corpus_files  # noqa: E402  (tests/host)

from sbdtools import shims  # noqa: E402

shims.install()

import validate_scan_fuzzing  # noqa: E402  (tests/host)
import validate_schemas  # noqa: E402
from sbd import validate as v  # noqa: E402

SCHEMAS: dict[str, tuple[Any, int, bytes]] = validate_schemas.ALL


class OracleError(AssertionError):
    pass


def _no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise OracleError("accepted a document with duplicate keys")
    return dict(pairs)


def _no_constant(s: str) -> Any:
    raise OracleError("accepted NaN/Infinity")


def outcome(name: str, data: bytes) -> str:
    """Run parse_json on one input; return "ok" or the rule; raise on anything else."""
    schema, max_bytes, _ = SCHEMAS[name]
    try:
        v.parse_json(data, schema, max_bytes=max_bytes, name=name)
    except v.ValidationError as e:
        return str(e.rule)
    # Accepted: it must be strict JSON, within the bound.
    if len(data) > max_bytes:
        raise OracleError("accepted a document above max_bytes")
    try:
        json.loads(data.decode("utf-8"), object_pairs_hook=_no_dupes, parse_constant=_no_constant)
    except ValueError as e:
        raise OracleError("accepted a document CPython's json refuses: %s" % e) from e
    if validate_scan_fuzzing.reference(data) is not True:  # lone surrogates, numbers over 32 characters
        raise OracleError("accepted a document the strict reference refuses")
    return "ok"


# ---- generators (plain random, fast: the long run uses these) ----------------------

_INTERESTING = [
    b"",
    b" ",
    b"null",
    b"true",
    b"false",
    b"0",
    b"-0",
    b"1e999",
    b"-1e999",
    b"1" * 40,
    b"-" + b"9" * 30,
    b"1.5",
    b"NaN",
    b"Infinity",
    b'""',
    b'"\\u0000"',
    b'"\\ud800"',
    b'"\xff"',
    b'"\xc3"',
    b"[]",
    b"{}",
    b"[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]",
    b'{"a":1,"a":2}',
    b'"' + b"x" * 300 + b'"',
    b"01",
    b"1.",
    b".5",
    b"+1",
    b"[1,]",
    b"[,1]",
    b"[1 2]",
    b'{"a" 1}',
    b'"\\x41"',
    b'"\x01"',
    b"\xef\xbb\xbf",
    b'"\\"',
    b"\\",
    b'"',
    b"]",
    b"}",
    b":",
    b",",
    b"\x00",
    b"\x7f",
    b'"\\u00e9"',
    b"2147483648",
    b"-2147483649",
    b"65536",
    b"1048577",
    b'"' + b"ab" * 40 + b'"',
    b'"QR=="',
    b'"=QQ="',
]


def _rand_scalar(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.2:
        return rng.choice([0, 1, -1, 2**31, -(2**31) - 1, 2**63, 10**30, 65535, 65536, 48, 49])
    if r < 0.35:
        return rng.choice([0.0, -0.5, 1e308, -1e-308, 27.5, 50.0001, 1e16])
    if r < 0.45:
        return rng.choice([True, False, None])
    if r < 0.9:
        n = rng.choice([0, 1, 2, 5, 8, 9, 23, 32, 33, 63, 64, 65, 129])
        alphabet = rng.choice(
            [
                "abcXYZ019-_.",
                "0123456789abcdef",
                '\u00e9\u2713\x00\n\x7f"\\ /:',
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
            ]
        )
        s = "".join(rng.choice(alphabet) for _ in range(n))
        if rng.random() < 0.2:
            s = rng.choice(["https://", "/", "/lib/", "mqtt://"]) + s
        return s
    return rng.choice(["stable", "beta", "esp32", "temperature", "mon", "info", "set", "reboot"])


def rand_json(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth > 6 or r < 0.5:
        return _rand_scalar(rng)
    if r < 0.75:
        return [rand_json(rng, depth + 1) for _ in range(rng.randrange(0, 6))]
    keys = [
        "id",
        "cmd",
        "args",
        "key",
        "files",
        "path",
        "size",
        "sha256",
        "sig",
        "version",
        "wifi",
        "ssid",
        "x",
        "",
        "a b",
        "k" * 40,
        "device",
        "mqtt",
        "port",
        "sensors",
        "ota",
        "url",
    ]
    return {rng.choice(keys): rand_json(rng, depth + 1) for _ in range(rng.randrange(0, 6))}


def _paths(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(doc, dict):
        for k, val in doc.items():
            out += _paths(val, (*path, k))
    elif isinstance(doc, list):
        for i, val in enumerate(doc):
            out += _paths(val, (*path, i))
    return out


def mutate_tree(rng: random.Random, doc: Any) -> Any:
    """Structure-level mutation of a decoded valid document (returns a new tree)."""
    doc = json.loads(json.dumps(doc))
    for _ in range(rng.randrange(1, 4)):
        paths = _paths(doc)
        p = rng.choice(paths)
        if not p:
            if rng.random() < 0.1:
                doc = rand_json(rng)
            continue
        parent = doc
        for seg in p[:-1]:
            parent = parent[seg]
        last = p[-1]
        r = rng.random()
        if r < 0.45:
            parent[last] = rand_json(rng) if rng.random() < 0.4 else _rand_scalar(rng)
        elif r < 0.6:
            del parent[last]
        elif r < 0.75 and isinstance(parent, dict):
            parent[rng.choice(["extra", "x", "a b", "\u00e9", "k" * 40])] = rand_json(rng)
        elif r < 0.9 and isinstance(parent, list):
            parent.extend([parent[last]] * rng.randrange(1, 20))
        else:
            parent[last] = [parent[last]] if rng.random() < 0.5 else {"x": parent[last]}
    return doc


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """Byte-level mutation: flips, inserts, deletes, splices, duplicate keys, nesting."""
    b = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        r = rng.random()
        n = len(b)
        i = rng.randrange(0, n + 1)
        if r < 0.2 and n:
            b[min(i, n - 1)] ^= 1 << rng.randrange(8)
        elif r < 0.35:
            b[i:i] = rng.choice(_INTERESTING)
        elif r < 0.5 and n:
            del b[i : i + rng.randrange(1, 16)]
        elif r < 0.6:
            b[i:i] = bytes([rng.choice(b'[]{}",:\\ 0-e.\x00\xff\xc3\x80')])
        elif r < 0.7:
            k = rng.randrange(1, 40)
            b[i:i] = b"[" * k + b"]" * rng.choice([0, k, k - 1])
        elif r < 0.8:
            # duplicate an existing key: repeat a '"key": value' member right after itself
            j = b.find(b'":', i)
            s = b.rfind(b'"', 0, j) if j > 0 else -1
            e = b.find(b",", j) if j > 0 else -1
            if s >= 0 and e > j:
                b[e:e] = b"," + b[s:e]
        elif r < 0.9:
            b[i:i] = rng.choice([b"1" * rng.randrange(1, 400), b"-1e" + str(rng.randrange(400)).encode()])
        else:
            j = rng.randrange(0, n + 1)
            b[i:i] = b[min(i, j) : max(i, j)][:200]
    return bytes(b)


def rand_bytes(rng: random.Random) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))


def generate(rng: random.Random, name: str) -> bytes:
    """One fuzz input for schema `name`, of a randomly chosen kind."""
    _, max_bytes, valid = SCHEMAS[name]
    r = rng.random()
    if r < 0.35:
        return mutate_bytes(rng, valid)
    if r < 0.65:
        doc = mutate_tree(rng, json.loads(valid))
        out = json.dumps(doc, separators=rng.choice([(",", ":"), (", ", ": ")]), ensure_ascii=rng.random() < 0.5)
        data = out.encode("utf-8", "surrogatepass")
        return mutate_bytes(rng, data) if rng.random() < 0.2 else data
    if r < 0.8:
        return json.dumps(rand_json(rng)).encode()
    if r < 0.88:
        k = rng.choice([1, 2, 7, 8, 9, 64, 600, max_bytes // 2, max_bytes])
        return (rng.choice([b"[", b'{"a":', b'{"files":[']) * k)[: max_bytes + rng.randrange(2)]
    if r < 0.94:
        return rand_bytes(rng)
    # near the size bound: pad a valid document with whitespace
    pad = max_bytes - len(valid) + rng.randrange(-2, 3)
    return valid[:-1] + b" " * max(pad, 0) + valid[-1:]


def run(rng: random.Random, count: int, on_case: Callable[[str, bytes, str], None] | None = None) -> dict[str, int]:
    """Fuzz `count` inputs round-robin over the schemas; return rule -> count."""
    stats: dict[str, int] = {}
    names = sorted(SCHEMAS)
    for i in range(count):
        name = names[i % len(names)]
        data = generate(rng, name)
        try:
            rule = outcome(name, data)
        except OracleError:
            raise
        except Exception as e:
            raise OracleError("%s: %r raised %s: %s" % (name, data[:200], type(e).__name__, e)) from e
        stats[rule] = stats.get(rule, 0) + 1
        if on_case is not None:
            on_case(name, data, rule)
    return stats


# ---- the saved corpus (replayed on MicroPython by test_validate_corpus.py) --------------
# One file per schema, <name>.bin: records of
#   u16 big-endian input length, u8 outcome length, outcome (ASCII), input bytes.
# Binary, so a board reads each input with one allocation of its own size.


def write_corpus(cases: dict[str, list[tuple[bytes, str]]]) -> None:
    corpus_files.write(CORPUS_DIR, cases, ">HB")


def read_corpus() -> dict[str, list[tuple[bytes, str]]]:
    return corpus_files.read(CORPUS_DIR, ">HB")


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))
