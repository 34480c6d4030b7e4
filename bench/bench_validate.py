"""Benchmark sbd.validate on the real MicroPython unix port (`make bench`).

Compiles sbd/validate and the shared schemas with mpy-cross, then runs
`micropython -X heapsize=64K` on the typical ~1 KiB configuration document
(tests/device/validate_schemas.py CONFIG_DOC): bare json.loads, parse_json
with the native (viper) pre-scan, parse_json with the portable pre-scan.
Each figure is the median of RUNS runs of LOOPS iterations; the ratio to the
bare json.loads is taken within each run.  Peak heap is micropython.mem_peak()
(bytes ever in use) around one call, after gc.collect().

Writes bench/results/validate.md and validate.json.  No thresholds here: the
target (parse_json <= 3x json.loads) is reported, not enforced.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchlib import cpu_model

from sbdtools.mpytools import interpreter_mpy, require_tool

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
RUNS = 7
LOOPS = 2000
TARGET_RATIO = 3.0
# `import sbd.validate` before the rarely used paths (prefix/check, hex and
# base64, unknown fields) moved to the lazily imported sbd.validate._more.
IMPORT_CORE_BEFORE = 15936
# parse_json / json.loads and parse_json's peak heap with the pre-scan of before issue 7.
BEFORE_ISSUE_7 = (2.82, 4542)

DEVICE_SCRIPT = r"""
import gc, json, sys, time, micropython
from sbd import validate as v
# The first parse_json imports the pre-scan (and self-tests the viper scan):
# done first, as an app would at start-up, then its garbage collected (an
# automatic collection deep in an import may still see it from the C stack).
native = v.use_native_scan(True)
gc.collect()
from validate_schemas import CONFIG, CONFIG_DOC
doc = CONFIG_DOC
N = %(loops)d
def run(fn):
    gc.collect()
    t = time.ticks_us()
    for _ in range(N):
        fn()
    return time.ticks_diff(time.ticks_us(), t) / N
def peak(fn):
    gc.collect()
    base = gc.mem_alloc()
    micropython.heap_lock(); micropython.heap_unlock()
    p0 = micropython.mem_peak() if hasattr(micropython, "mem_peak") else 0
    r = fn()
    p1 = micropython.mem_peak() if hasattr(micropython, "mem_peak") else 0
    gc.collect()
    return r, base, p1
v.parse_json(doc, CONFIG)  # warm up: imports the scanner
loads = run(lambda: json.loads(doc))
fast = run(lambda: v.parse_json(doc, CONFIG))
v.use_native_scan(False)
portable = run(lambda: v.parse_json(doc, CONFIG))
v.use_native_scan(True)
gc.collect()
a0 = gc.mem_alloc()
x = json.loads(doc)
a1 = gc.mem_alloc()
x = None
gc.collect()
b0 = gc.mem_alloc()
y = v.parse_json(doc, CONFIG)
b1 = gc.mem_alloc()
y = None
print("RESULT", json.dumps({"bytes": len(doc), "native": native, "loads_us": loads, "parse_json_us": fast,
      "parse_json_portable_us": portable, "loads_alloc": a1 - a0, "parse_json_alloc": b1 - b0}))
"""

IMPORT_SCRIPT = r"""
import gc
gc.collect(); a = gc.mem_free()
from sbd import validate as v
gc.collect(); b = gc.mem_free()
v.parse_json(b"1", v.integer())
gc.collect(); c = gc.mem_free()
v.hexbytes()  # imports sbd.validate._more
gc.collect(); m = gc.mem_free()
from sbd.validate import form
gc.collect(); d = gc.mem_free()
from sbd.validate import layout
gc.collect(); e = gc.mem_free()
import json
print("RESULT", json.dumps({"import_core": a - b, "first_parse_json": b - c, "import_more": c - m,
      "import_form": m - d,
      "import_layout": d - e}))
"""

PEAK_SCRIPT = r"""
import gc, micropython
from sbd import validate as v
v._scanner()  # import the scanner before measuring (as in DEVICE_SCRIPT)
gc.collect()
from validate_schemas import CONFIG, CONFIG_DOC
import json
gc.collect()
base = micropython.mem_current()
p0 = micropython.mem_peak()
%(call)s
p1 = micropython.mem_peak()
print("RESULT", json.dumps({"peak": p1, "before": p0, "current": base}))
"""


def tool(name: str) -> str:
    return require_tool(name)


def build(dst: Path) -> None:
    mpy = tool("mpy-cross")
    files = [
        (ROOT / "sdk" / "sbd" / "__init__.py", dst / "sbd" / "__init__.mpy"),
        (ROOT / "tests" / "device" / "validate_schemas.py", dst / "validate_schemas.mpy"),
    ]
    for p in sorted((ROOT / "sdk" / "sbd" / "validate").glob("*.py")):
        files.append((p, dst / "sbd" / "validate" / (p.stem + ".mpy")))
    # sbd.validate._scan holds viper code: its .mpy is built for this micropython's architecture.
    arch = interpreter_mpy(tool("micropython"))[2]
    march = ["-march=" + arch] if arch else []
    for src, out in files:
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([mpy, *march, "-o", str(out), str(src)], check=True)


def run_mp(build_dir: Path, script: str, heap: str = "64K") -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            [tool("micropython"), "-X", "heapsize=" + heap, f.name],
            check=True,
            capture_output=True,
            text=True,
            env={"MICROPYPATH": str(build_dir)},
            timeout=600,
        )
    finally:
        Path(f.name).unlink()
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])  # type: ignore[no-any-return]
    raise SystemExit("bench_validate: no result from micropython:\n" + out.stdout + out.stderr)


def peak_of(build_dir: Path, call: str) -> int:
    """Heap in use at the call's high-water mark, above the resting heap before it."""
    r = run_mp(build_dir, PEAK_SCRIPT % {"call": call})
    if r["peak"] <= r["before"]:
        # mem_peak is a high-water mark since start-up: the call did not raise it,
        # so its true peak is at most this (reported as such).
        return -int(r["before"] - r["current"])
    return int(r["peak"] - r["current"])


def fmt_peak(n: int) -> str:
    return "%d B" % n if n >= 0 else "<= %d B (masked by an earlier peak)" % -n


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="sbd-bench-validate-") as d:
        bdir = Path(d)
        build(bdir)
        version = subprocess.run(
            [tool("micropython"), "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
        ).stdout.strip()
        runs = [run_mp(bdir, DEVICE_SCRIPT % {"loops": LOOPS}) for _ in range(RUNS)]
        imp = run_mp(bdir, IMPORT_SCRIPT)
        # Peak heap above the resting heap during one call (mem_peak is a high-water mark
        # since start-up, so each figure comes from its own process).
        peak_loads = peak_of(bdir, "x = json.loads(CONFIG_DOC)")
        peak_parse = peak_of(bdir, "x = v.parse_json(CONFIG_DOC, CONFIG)")

    def med(key: str) -> float:
        return float(statistics.median(r[key] for r in runs))

    ratio = statistics.median(r["parse_json_us"] / r["loads_us"] for r in runs)
    ratio_portable = statistics.median(r["parse_json_portable_us"] / r["loads_us"] for r in runs)
    result: dict[str, Any] = {
        "machine": cpu_model(),
        "micropython": version,
        "heapsize": "64K",
        "document_bytes": runs[0]["bytes"],
        "runs": RUNS,
        "loops": LOOPS,
        "native_scan": runs[0]["native"],
        "json_loads_us": round(med("loads_us"), 1),
        "parse_json_us": round(med("parse_json_us"), 1),
        "parse_json_portable_scan_us": round(med("parse_json_portable_us"), 1),
        "ratio": round(ratio, 2),
        "ratio_portable_scan": round(ratio_portable, 2),
        "target_ratio": TARGET_RATIO,
        "retained_bytes_json_loads": runs[0]["loads_alloc"],
        "retained_bytes_parse_json": runs[0]["parse_json_alloc"],
        "peak_heap_json_loads": peak_loads,
        "peak_heap_parse_json": peak_parse,
        "import_core_bytes": imp["import_core"],
        "first_parse_json_bytes": imp["first_parse_json"],
        "import_core_bytes_before_split": IMPORT_CORE_BEFORE,
        "import_more_bytes": imp["import_more"],
        "import_form_bytes": imp["import_form"],
        "import_layout_bytes": imp["import_layout"],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "validate.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [
        "# sbd.validate benchmark (`make bench`)",
        "",
        "- machine: %s; %s (unix port, 64-bit), `-X heapsize=64K`" % (result["machine"], version),
        "- document: tests/device/validate_schemas.py CONFIG_DOC, %d bytes, schema CONFIG" % result["document_bytes"],
        "- median of %d runs x %d iterations; ratio taken within each run" % (RUNS, LOOPS),
        "",
        "| measure | value |",
        "|---|---:|",
        "| bare `json.loads` | %.1f us |" % result["json_loads_us"],
        "| `parse_json` (viper pre-scan) | %.1f us |" % result["parse_json_us"],
        "| **ratio to json.loads** (target <= %.0fx) | **%.2fx** |" % (TARGET_RATIO, ratio),
        "| `parse_json` (portable pre-scan, ports without a native emitter) | %.1f us (%.2fx) |"
        % (result["parse_json_portable_scan_us"], ratio_portable),
        "| peak heap during `json.loads` (above the resting heap) | %s |" % fmt_peak(peak_loads),
        "| peak heap during `parse_json` (above the resting heap) | %s |" % fmt_peak(peak_parse),
        "| heap kept by the result, `json.loads` / `parse_json` | %d B / %d B |"
        % (result["retained_bytes_json_loads"], result["retained_bytes_parse_json"]),
        "| `import sbd.validate` (core) | %d B (was %d B) |" % (imp["import_core"], IMPORT_CORE_BEFORE),
        "| first `parse_json` (imports `_scan`, its viper scan precompiled, and `json`) | %d B |"
        % imp["first_parse_json"],
        "| `from sbd.validate import form` (with `_utf8`) | %d B |" % imp["import_form"],
        "| `from sbd.validate import layout` | %d B |" % imp["import_layout"],
        "",
        "The core import was %d B before the rarely used paths (text prefix/check, hexbytes and b64bytes, "
        "objects that drop or keep unknown fields) moved to `sbd.validate._more`, imported by the "
        "constructors of those specs (about %d B then)." % (IMPORT_CORE_BEFORE, imp["import_more"]),
        "",
        "Before issue 7 the pre-scan checked strings and brackets only (json.loads saw the rest): "
        "parse_json was %.2fx json.loads, peak heap %d B.  It is now a complete strict-JSON recognizer "
        "(structure, numbers, escapes, UTF-8, surrogate pairs) and the separate UTF-8 pass is gone." % BEFORE_ISSUE_7,
        "",
        "Heap figures are for the 64-bit unix port; a 32-bit board uses roughly half.",
    ]
    (RESULTS / "validate.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
