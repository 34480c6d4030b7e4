"""What sbd.identity and sbd.auth cost on real MicroPython (unix port, .mpy,
`-X heapsize`): import RAM, live heap after loading the record, the time of
identity.load() and of auth.check() against a bare PBKDF2 of the same
iterations run in the same process (the ratio is what carries to a board).

Medians of RUNS processes.  Writes bench/results/identity.md.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import cpu_model

from sbdtools import deploy
from sbdtools.mpytools import interpreter_mpy, require_tool

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "identity.md"
RUNS = 7
HEAPS = ("64K", "96K")
ITERATIONS = 1500  # pico_w's count in board_configs

SCRIPT = """
import gc, json, time, os
import fakeboard
from sbd import _fs
_fs.FACTORY_DIR = %(dir)r + "/factory"
_fs.STATE_DIR = %(dir)r + "/state"
def mem():
    gc.collect()
    return gc.mem_alloc()
def med(fn, n=9):
    ts = []
    for _ in range(n):
        t = time.ticks_us(); fn(); ts.append(time.ticks_diff(time.ticks_us(), t))
    ts.sort()
    return ts[n // 2]
r = {}
m0 = mem()
from sbd import identity
r["import_identity"] = mem() - m0
from sbd.crypto.kdf import pbkdf2_hmac_sha256
salt = b"s" * 16
pw = b"k7mp2-xv9ad-3hrte-nq4fw"
if not identity.is_provisioned():
    from sbd.identity import provision
    provision.provision(bytes(32), "SBD-1", "M", "2031-12-31", "sec@x.example", salt, %(it)d,
                        pbkdf2_hmac_sha256(pw, salt, %(it)d, 32))
    del provision
    import sys
    sys.modules.pop("sbd.identity.provision", None)
m1 = mem()
def cold():
    identity._last = None  # forget the verified bytes: parse and check in full
    return identity.load()
r["load_us"] = med(cold)
ident = identity.load()
r["again_us"] = med(identity.load)
r["live_after_load"] = mem() - m0
m2 = mem()
from sbd import auth
r["import_auth"] = mem() - m2
r["check_us"] = med(lambda: auth.check(pw), 5)
r["pbkdf2_us"] = med(lambda: pbkdf2_hmac_sha256(pw, salt, %(it)d, 32), 5)
r["live_after_check"] = mem() - m0
print("RESULT", json.dumps(r))
"""


def build(dst: Path) -> None:
    arch = interpreter_mpy(require_tool("micropython"))[2]
    deploy.build_bundle(dst, arch=arch)
    deploy.compile_file(
        ROOT / "tests" / "device" / "fakeboard.py", dst / "lib" / "fakeboard.mpy", arch=arch, source_name="fakeboard.py"
    )


def run(build_dir: Path, work: Path, heap: str) -> dict[str, float]:
    # The script as .mpy too: compiling its source would take heap a device
    # does not spend.
    script = work / "bench_identity_run.py"
    script.write_text(SCRIPT % {"dir": str(work), "it": ITERATIONS})
    arch = interpreter_mpy(require_tool("micropython"))[2]
    deploy.compile_file(script, work / "bench_identity_run.mpy", arch=arch, source_name=script.name)
    out = subprocess.run(
        [require_tool("micropython"), "-X", f"heapsize={heap}", "-c", "import bench_identity_run"],
        capture_output=True,
        text=True,
        env={"MICROPYPATH": f"{work}:{build_dir / 'lib'}"},
        timeout=300,
    )
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])  # type: ignore[no-any-return]
    raise RuntimeError(out.stdout[-1500:] + out.stderr[-1500:])


def main() -> None:
    results: dict[str, list[dict[str, float]] | str] = {}
    with tempfile.TemporaryDirectory(prefix="sbd-bench-id-") as tmp:
        build_dir = Path(tmp) / "b"
        build(build_dir)
        for heap in HEAPS:
            try:
                runs = []
                for i in range(RUNS):
                    work = Path(tmp) / f"w-{heap}-{i}"
                    work.mkdir()
                    run(build_dir, work, heap)  # provisions (the factory step)
                    runs.append(run(build_dir, work, heap))  # a booted device: load and check
                results[heap] = runs
            except RuntimeError as e:
                results[heap] = str(e).strip().splitlines()[-1]
    lines = [
        "# sbd.identity and sbd.auth on MicroPython (`make bench`)",
        "",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores; host Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d')}",
        "- MicroPython unix port (64-bit: objects are about twice their size on a 32-bit board), the SDK as .mpy",
        f"- medians of {RUNS} processes; PBKDF2 with {ITERATIONS} iterations (pico_w's count)",
        "",
        "| heap | import identity | live after load | + import auth | live after a check "
        "| identity.load() | again | auth.check() | bare PBKDF2 | check / PBKDF2 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for heap, runs in results.items():
        if isinstance(runs, str):
            lines.append(f"| {heap} | does not fit: {runs} | | | | | | | | |")
            continue

        def med(key: str, runs: list[dict[str, float]] = runs) -> float:
            return statistics.median(r[key] for r in runs)

        ratio = statistics.median(r["check_us"] / r["pbkdf2_us"] for r in runs)
        lines.append(
            f"| {heap} | {med('import_identity') / 1024:.1f} KiB | {med('live_after_load') / 1024:.1f} KiB "
            f"| {med('import_auth') / 1024:.1f} KiB | {med('live_after_check') / 1024:.1f} KiB "
            f"| {med('load_us') / 1000:.2f} ms | {med('again_us') / 1000:.2f} ms "
            f"| {med('check_us') / 1000:.2f} ms | {med('pbkdf2_us') / 1000:.2f} ms "
            f"| {ratio:.2f} |"
        )
    lines += [
        "",
        "identity.load() parses the record with sbd.validate and checks its HMAC (two HKDF and one HMAC);",
        "it imports sbd.validate for that and unloads it again (nothing else here loaded it), so each of",
        "these timed loads includes that import; again: a load() of the same bytes (no parse, a compare).",
        "At 64K the timing loop itself does not fit: nine cold loads in a row import and unload",
        "sbd.validate nine times and fragment the heap (1.5 KB blocks of viper code fail first); a boot's",
        "record, password check and credential store need 56 KiB (bench/results/heap.md, test_boot_heap.py).",
        "auth.check() adds two atomic writes of its state file (count first, then clear) to the PBKDF2.",
        "On a board the PBKDF2 dominates a check: board_configs sets the iterations so that it costs",
        "about 0.3-0.5 s there (estimates until measured on hardware).",
    ]
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
