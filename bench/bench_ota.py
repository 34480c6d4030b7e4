"""Benchmark sbd.ota's verification on the real MicroPython unix port, as .mpy.

Run by `make bench` (or `.venv/bin/python bench/bench_ota.py [--runs N]`).
Makes repositories with python-tuf (sbdtools.ota.Repo; root 2-of-3, one key
for each other role) with 2, 25 and 100 targets, compiles sdk/ with
mpy-cross, and runs the TUF client workflow (sbd.ota.client.refresh) in
fresh `micropython` processes:
  * times: Trusted(root) (2 signatures), then timestamp, snapshot, targets
    (1 signature each), medians over processes at the min heap + 16 KiB;
  * min heap: the smallest `-X heapsize` (2 KiB steps) at which the whole
    refresh passes, and the live heap before and after it.
micropython.mem_peak() does not come down after a collection on this build
(shared/notes/tuf-on-micropython.md), so the min heap stands in for the peak.
Results: bench/results/ota.md.  No test reads a timing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from benchlib import cpu_model

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "host_tools"))

from sbdtools.ota import Release, Repo, release_prefix, signer_from_seed  # noqa: E402

RESULTS = REPO / "bench" / "results"
FUTURE = datetime(2099, 1, 1, tzinfo=timezone.utc)

SCRIPT = r"""
import gc, sys, time, json
import fakeboard
from sbd import _fs
from sbd.ota import client
gc.collect(); idle = gc.mem_alloc()
_fs.STATE_DIR = STATE
repo = REPOSITORY
root = open(repo + "/metadata/1.root.json", "rb").read()
from sbd import ota
f = client.DirFetcher(repo + "/metadata")
now = "2026-11-30T00:00:00Z"
out = {}
t0 = time.ticks_us()
t = ota.Trusted(root, now)
out["root_us"] = time.ticks_diff(time.ticks_us(), t0)
for role in ("timestamp", "snapshot", "targets"):
    data = f.fetch(role + ".json", 65536)
    t0 = time.ticks_us()
    getattr(t, "update_" + role)(data)
    out[role + "_us"] = time.ticks_diff(time.ticks_us(), t0)
    data = None
gc.collect()
out["idle_bytes"] = idle
out["after_bytes"] = gc.mem_alloc()
print("@@" + json.dumps(out))
"""


def make_repo(out: Path, n: int) -> None:
    k = {r: signer_from_seed(hashlib.sha256(r.encode()).digest()) for r in ("r1", "r2", "r3", "ts", "sn", "tg")}
    repo = Repo.create(
        {
            "root": [k["r1"].public_key, k["r2"].public_key, k["r3"].public_key],
            "timestamp": [k["ts"].public_key],
            "snapshot": [k["sn"].public_key],
            "targets": [k["tg"].public_key],
        },
        {"root": 2},
        now=FUTURE,
    )
    for role in ("root", "timestamp", "snapshot", "targets"):
        repo.md(role).signed.expires = FUTURE
    rel = Release("acme-sensor", ["pico_w"], 1, "1.0.0")
    for i in range(n):
        repo.add_target(
            release_prefix("acme-sensor", "pico_w", 1) + f"lib/mod{i:03}.mpy", b"x" * (100 + i), rel.custom()
        )
    repo.sign("root", [k["r1"], k["r2"]])
    repo.sign("targets", [k["tg"]])
    repo.link_snapshot()
    repo.sign("snapshot", [k["sn"]])
    repo.link_timestamp()
    repo.sign("timestamp", [k["ts"]])
    repo.publish(out)


def build(out: Path) -> None:
    sys.path.insert(0, str(REPO / "tests"))
    from harness import tools

    errors = tools.compile_tree(REPO / "sdk", out) + tools.compile_tree(REPO / "tests" / "device", out)
    if errors:
        raise SystemExit("\n".join(errors))


def run(mp: str, build_dir: Path, repo: Path, heap: int) -> dict[str, int] | None:
    with tempfile.TemporaryDirectory() as state:
        code = f"import sys\nsys.path.insert(0, {str(build_dir)!r})\nSTATE = {state!r}\nREPOSITORY = {str(repo)!r}\n"
        code += SCRIPT
        r = subprocess.run([mp, "-X", f"heapsize={heap}", "-c", code], capture_output=True, text=True, timeout=300)
    for line in r.stdout.splitlines():
        if line.startswith("@@"):
            return dict(json.loads(line[2:]))
    if os.environ.get("BENCH_DEBUG"):
        print(r.stdout[-500:], r.stderr[-1500:], file=sys.stderr)
    return None


def min_heap(mp: str, build_dir: Path, repo: Path) -> int:
    lo, hi = 32 * 1024, 256 * 1024  # lo fails, hi passes
    if run(mp, build_dir, repo, hi) is None:
        raise SystemExit("does not run at 256 KiB")
    while hi - lo > 2048:
        mid = (lo + hi) // 2 // 2048 * 2048
        if run(mp, build_dir, repo, mid) is None:
            lo = mid
        else:
            hi = mid
    return hi


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    mp = shutil.which("micropython", path=os.path.dirname(sys.executable)) or shutil.which("micropython")
    if mp is None:
        raise SystemExit("no micropython binary")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        build_dir = Path(tmp) / "mpy"
        build(build_dir)
        for n in (2, 25, 100):
            repo = Path(tmp) / f"repo{n}"
            make_repo(repo, n)
            size = (repo / "metadata" / "targets.json").stat().st_size
            heap = min_heap(mp, build_dir, repo)
            runs = [r for r in (run(mp, build_dir, repo, heap + 16 * 1024) for _ in range(args.runs)) if r]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            rows.append((n, size, med, heap))
    lines = [
        "# sbd.ota verification on the MicroPython unix port",
        "",
        f"Machine: {cpu_model()}, {platform.system()} {platform.machine()}; MicroPython unix port (64-bit), "
        f"modules as .mpy (mpy-cross, code held in the heap). `bench/bench_ota.py --runs {args.runs}`.",
        "",
        "Root 2-of-3 (two signatures checked), one key for each other role; times are medians over processes",
        "at the min heap + 16 KiB. *min heap* is the smallest `-X heapsize` at which the whole refresh passes",
        "(2 KiB steps); *idle* is the live heap after importing sbd.ota and sbd.ota.client (with sbd.validate),",
        "*after* the live heap after the refresh with the trusted metadata kept.",
        "",
        "| targets | targets.json | root (2 sig) | timestamp | snapshot | targets | min heap | idle | after |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, size, m, heap in rows:
        lines.append(
            f"| {n} | {size} B | {m['root_us'] / 1000:.1f} ms | {m['timestamp_us'] / 1000:.1f} ms | "
            f"{m['snapshot_us'] / 1000:.1f} ms | {m['targets_us'] / 1000:.1f} ms | {heap // 1024} KiB | "
            f"{m['idle_bytes'] / 1024:.1f} KiB | {m['after_bytes'] / 1024:.1f} KiB |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ota.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
