"""Long fuzz run of sbd.validate.parse_json, .form and .layout (`make fuzz`).

Runs FUZZ_COUNT inputs (default 1,000,000) spread over the shared schemas
(tests/device/validate_schemas.py): mutated valid documents (byte and tree
mutations), random JSON, raw bytes, deep nesting, huge numbers, invalid UTF-8,
duplicate keys, documents at the size bound; then FUZZ_FORM_COUNT (default
200,000) query strings and binary records for sbd.validate.form and
sbd.validate.layout (tests/host/validate_form_fuzzing.py); then a hypothesis
phase.  Any outcome other than a valid result or ValidationError, or an
accepted input that CPython reads differently (strict json; urllib.parse and
int/float; struct), stops the run with the input.

Writes bench/results/fuzz_validate.md.  With --write-corpus it also refreshes
tests/device/data/validate_corpus/ (a few hundred inputs, every distinct
outcome kept) that test_validate_corpus.py replays on MicroPython, and
tests/device/data/validate_form_corpus/ (query strings and binary records
with CPython's full outcome) that test_validate_form_corpus.py replays;
`python tests/host/validate_form_fuzzing.py` refreshes only the latter.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from pathlib import Path

from benchlib import cpu_model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "host"))

import validate_form_fuzzing as ffz  # noqa: E402
import validate_fuzzing as fz  # noqa: E402
import validate_scan_fuzzing as sf  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "fuzz_validate.md"
PER_RULE = 2  # corpus: examples kept for each (schema, outcome)
RANDOM_KEEP = 40  # corpus: extra random inputs per schema
PER_SCHEMA = 120  # corpus: at most this many inputs per schema


def hypothesis_phase(count: int) -> int:
    """The host test's hypothesis strategies, with many more examples."""
    os.environ["SBD_FUZZ_EXAMPLES"] = str(max(1, count // 7))
    import test_validate_fuzz as t

    tests = [
        t.test_raw_bytes,
        t.test_random_json,
        t.test_mutated_valid_documents,
        t.test_deep_nesting,
        t.test_huge_numbers,
        t.test_invalid_utf8,
        t.test_duplicate_keys,
    ]
    import test_validate_form_fuzz as tf

    tests += [
        tf.test_form_raw_bytes,
        tf.test_form_structured,
        tf.test_form_mutated_valid,
        tf.test_form_percent_encoded_bytes,
        tf.test_layout_raw_bytes,
        tf.test_layout_mutated_valid,
        tf.test_layout_right_size,
    ]
    for fn in tests:
        fn()
    return max(1, count // 7) * len(tests)


MP_SCAN = """
import gc
import sys
import validate_scan_gen as gen
from sbd.validate import _scan
from sbd import validate as v
count, seed = int(sys.argv[1]), int(sys.argv[2])
v.use_native_scan(True)
fn = v._scanner()
if fn is not _scan.scan_viper:
    raise SystemExit("no viper scan")
f = open(sys.argv[3], "rb")  # one verdict bit per input, read as it goes: 64 KiB heap
st = bytearray(4096)
keep = v.obj({}, v.KEEP)
text = v.list_of(v.text(0, 64, allow_control=True), 0, 64)
i = 0
acc = 0
ok = 0
bits = 0
for data in gen.inputs(count, seed):
    if not i & 7:
        bits = f.read(1)[0]
    got = 1 if fn(data, len(data), 1 << 20, 1 << 20, st) >= 0 else 0
    if got != (bits >> (i & 7)) & 1:
        raise SystemExit("MISMATCH %d %r" % (i, data))
    # parse_json: a value or ValidationError, nothing else (any other
    # exception, MemoryError included, ends the run); every other input
    # through a memoryview, parsed in place.
    try:
        v.parse_json(memoryview(data) if i & 1 else data, keep if i & 2 else text)
        ok += 1
    except v.ValidationError:
        pass
    acc += got
    i += 1
    if not i & 1023:
        gc.collect()
f.close()
print("OK", i, acc, ok)
"""


def micropython_scan_phase(count: int, seed: int) -> tuple[int, int, int]:
    """The device generator's inputs on real MicroPython against CPython's verdicts."""
    import subprocess
    import tempfile

    sys.path.insert(0, str(ROOT))
    from tests.harness import tools

    with tempfile.TemporaryDirectory() as tmp:
        build = Path(tmp) / "mpy"
        errors = tools.compile_tree(tools.SDK_DIR, build) + tools.compile_tree(ROOT / "tests" / "device", build)
        if errors:
            raise SystemExit("\n".join(errors))
        verdicts = Path(tmp) / "verdicts.bin"
        verdicts.write_bytes(sf.device_verdicts(count, seed))
        script = Path(tmp) / "scan_replay.py"
        script.write_text(MP_SCAN)
        out = subprocess.run(
            [tools.micropython(), "-X", "heapsize=64K", str(script), str(count), str(seed), str(verdicts)],
            env={"MICROPYPATH": str(build)},
            capture_output=True,
            text=True,
            timeout=3600,
        )
    words = out.stdout.split()
    if out.returncode or words[:1] != ["OK"]:
        raise SystemExit("MicroPython scan phase failed: %s %s" % (out.stdout[-500:], out.stderr[-500:]))
    return int(words[1]), int(words[2]), int(words[3])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=fz.env_int("FUZZ_COUNT", 1_000_000))
    ap.add_argument(
        "--form-count",
        type=int,
        default=fz.env_int("FUZZ_FORM_COUNT", 200_000),
        help="query strings and binary records for sbd.validate.form / .layout",
    )
    ap.add_argument(
        "--hypothesis",
        type=int,
        default=fz.env_int("FUZZ_HYPOTHESIS", 20_000),
        help="examples for the hypothesis phase (on top of --count)",
    )
    ap.add_argument(
        "--scan-count",
        type=int,
        default=fz.env_int("FUZZ_SCAN_COUNT", 1_000_000),
        help="inputs for the pre-scan's differential test against CPython's strict parser",
    )
    ap.add_argument(
        "--mp-scan-count",
        type=int,
        default=fz.env_int("FUZZ_MP_SCAN_COUNT", 1_000_000),
        help="of the device generator's inputs, replayed on MicroPython (viper scan, 64 KiB heap)",
    )
    ap.add_argument("--seed", type=int, default=fz.env_int("FUZZ_SEED", 1))
    ap.add_argument("--write-corpus", action="store_true")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    keep: dict[str, list[tuple[bytes, str]]] = {n: [] for n in fz.SCHEMAS}
    seen: dict[tuple[str, str], int] = {}

    def on_case(name: str, data: bytes, rule: str) -> None:
        k = (name, rule)
        c = seen.get(k, 0)
        seen[k] = c + 1
        if len(keep[name]) >= PER_SCHEMA:
            return
        if c < PER_RULE and len(data) <= 2100:
            keep[name].append((data, rule))
        elif rng.random() < RANDOM_KEEP / max(args.count / len(fz.SCHEMAS), 1) and len(data) <= 400:
            keep[name].append((data, rule))

    t0 = time.perf_counter()
    stats = fz.run(rng, args.count, on_case)
    t1 = time.perf_counter()
    fstats = ffz.run(rng, args.form_count)
    t1f = time.perf_counter()
    hyp = hypothesis_phase(args.hypothesis) if args.hypothesis else 0
    t2 = time.perf_counter()
    sstats = sf.run(rng, args.scan_count)
    t3 = time.perf_counter()
    mp = micropython_scan_phase(args.mp_scan_count, args.seed) if args.mp_scan_count else (0, 0, 0)
    t4 = time.perf_counter()
    ftotal = sum(fstats.values())

    total = sum(stats.values())
    lines = [
        "# sbd.validate fuzzing (`make fuzz`)",
        "",
        "- machine: %s, Python %s" % (cpu_model(), platform.python_version()),
        "- date: %s, seed %d" % (time.strftime("%Y-%m-%d %H:%M"), args.seed),
        "- generated inputs: %d in %.0f s (%.0f/s); hypothesis examples: %d in %.0f s"
        % (total, t1 - t0, total / (t1 - t0), hyp, t2 - t1f),
        "- form and layout inputs: %d in %.0f s (%.0f/s)" % (ftotal, t1f - t1, ftotal / max(t1f - t1, 1e-9)),
        "- pre-scan against CPython's strict parser (tests/host/validate_scan_fuzzing.py): %d inputs in %.0f s, "
        "%d accepted, %d refused, %d skipped (nested beyond CPython's recursion limit); both scan_py and "
        "scan_viper (as Python) agree with the reference on every one"
        % (sum(sstats.values()), t3 - t2, sstats["accepted"], sstats["refused"], sstats["skipped"]),
        "- the same on MicroPython (.mpy, viper scan, 64 KiB heap): %d inputs of the device generator "
        "(seed %d), %d accepted, in %.0f s, every verdict CPython's; parse_json on each (half through a "
        "memoryview) gave a value (%d) or ValidationError, nothing else" % (mp[0], args.seed, mp[1], t4 - t3, mp[2]),
        "- schemas: %s" % ", ".join(sorted(fz.SCHEMAS)),
        "- result: **no failure** (every input gave a valid result or ValidationError; every accepted "
        "input is strict JSON without duplicate keys, within max_bytes; every accepted form and record "
        "reads the same through CPython's urllib.parse and struct)",
        "",
        "| outcome | inputs |",
        "|---|---:|",
    ]
    for rule, n in sorted(stats.items(), key=lambda kv: -kv[1])[:40]:
        lines.append("| %s | %d |" % (rule.replace("|", "/"), n))
    if len(stats) > 40:
        lines.append(
            "| (%d more distinct outcomes) | %d |" % (len(stats) - 40, sum(sorted(stats.values())[: len(stats) - 40]))
        )
    lines += [
        "",
        "`sbd.validate.form` (parse_query) and `sbd.validate.layout` (Layout.parse):",
        "",
        "| outcome | inputs |",
        "|---|---:|",
    ]
    ranked = sorted(fstats.items(), key=lambda kv: -kv[1])
    for rule, n in ranked[:30]:
        lines.append("| %s | %d |" % (rule.replace("|", "/"), n))
    if len(ranked) > 30:
        lines.append("| (%d more distinct outcomes) | %d |" % (len(ranked) - 30, sum(n for _, n in ranked[30:])))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:8]))
    if args.write_corpus:
        # Always keep the valid documents themselves.
        for name, (_, _, valid) in fz.SCHEMAS.items():
            keep[name].insert(0, (valid, "ok"))
        fz.write_corpus(keep)
        sf.write_verdicts()
        print("pre-scan verdicts: %s" % sf.VERDICTS)
        print("corpus: %d inputs in %s" % (sum(len(x) for x in keep.values()), fz.CORPUS_DIR))
        fkeep = ffz.collect_corpus()  # its own fixed seed: the same files whatever --count
        ffz.write_corpus(fkeep)
        print("form/layout corpus: %d inputs in %s" % (sum(len(x) for x in fkeep.values()), ffz.CORPUS_DIR))
    return 0


if __name__ == "__main__":
    sys.exit(main())
