"""What the SDK holds in RAM on real MicroPython (unix port, the SDK as .mpy).

For each module: the heap still in use after `import` (gc.collect() then
gc.mem_alloc(), against the same process before the import).  For each main
operation (a fresh process each, on a board already provisioned):
  - live: the heap in use after the operation, its result still held;
  - needs: the smallest `-X heapsize` (1 KiB steps) from which every larger
    heap (up to a top) runs the whole operation, imports included.  This is
    the peak that matters: what a board must have free, fragmentation
    included (which is why it is a scan down, not a bisection).
Operations: identity.load() + derive_key(), auth.check(), creds.set() then
creds.get(), the three in one process (what an app does at start),
validate.parse_json() of the ~1 KiB configuration document of
tests/device/validate_schemas.py (its live figure holds the schema and the
document too).  sbd._fs and the fake `machine` are in every baseline (the
scripts point the store folders at a temporary copy of a provisioned board).

Each script is compiled to .mpy as well, so its own bytecode is a few hundred
bytes, not a compile in the heap.  "live" is the median of RUNS processes.

Writes bench/results/heap.md and heap.json.  `--baseline` writes
heap-before.json instead: the figures the table shows as "before" (taken
before the RAM work of 2026-11-30, kept so later runs still compare).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
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
RESULTS = ROOT / "bench" / "results"
RUNS = 5
ITERATIONS = 1500  # pico_w's PBKDF2 count in board_configs
HEAP_LO = 4  # KiB
TOP_IMPORT, TOP_OPERATION = 48, 112  # KiB: every heap from "needs" up to these runs

MODULES = (
    "sbd.events",
    "sbd.board",
    "sbd.crypto",
    "sbd.crypto.hmac",
    "sbd.crypto.kdf",
    "sbd.crypto.aead",
    "sbd.validate",
    "sbd.identity",
    "sbd.auth",
    "sbd.creds",
    "sbd.privacy",
)

# Common head of every script: the fake `machine`, the store folders, the
# baseline.  %(dir)s is the run's own copy of the provisioned board.
_HEAD = """
import gc, sys
import fakeboard
from sbd import _fs
_fs.FACTORY_DIR = %(dir)r + "/factory"
_fs.STATE_DIR = %(dir)r + "/state"
gc.collect()
m0 = gc.mem_alloc()
"""
_TAIL = """
gc.collect()
print("RESULT", gc.mem_alloc() - m0)
"""

OPERATIONS = {
    "identity.load() + derive_key()": """
from sbd import identity
ident = identity.load()
key = ident.derive_key(b"bench/v1")
""",
    "auth.check()": """
from sbd import auth
ok = auth.check("k7mp2-xv9ad-3hrte-nq4fw")
if not ok:
    raise SystemExit("wrong password?")
""",
    "creds.set() + creds.get()": """
from sbd import creds
creds.set("wifi", b"correct horse battery staple")
v = creds.get("wifi")
""",
    "a boot: identity, auth.check(), creds": """
from sbd import identity
ident = identity.load()
from sbd import auth
ok = auth.check("k7mp2-xv9ad-3hrte-nq4fw")
from sbd import creds
creds.set("wifi", b"correct horse battery staple")
v = creds.get("wifi")
if not ok:
    raise SystemExit("wrong password?")
""",
    "validate.parse_json(1 KiB)": """
from sbd import validate
from bench_config import CONFIG, CONFIG_DOC
doc = validate.parse_json(CONFIG_DOC, CONFIG)
""",
}

PROVISION = """
import fakeboard
from sbd import _fs
_fs.FACTORY_DIR = %(dir)r + "/factory"
_fs.STATE_DIR = %(dir)r + "/state"
from sbd.crypto.kdf import pbkdf2_hmac_sha256
from sbd.identity import provision
salt = b"s" * 16
pw = b"k7mp2-xv9ad-3hrte-nq4fw"
provision.provision(bytes(32), "SBD-1", "M", "2031-12-31", "sec@x.example", salt, %(it)d,
                    pbkdf2_hmac_sha256(pw, salt, %(it)d, 32))
print("RESULT", 0)
"""


class Bench:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.lib = tmp / "b" / "lib"
        self.arch = interpreter_mpy(require_tool("micropython"))[2]
        # SBD_SDK_DIR: another checkout's sdk/ (how heap-before.json was made
        # from the commit before the RAM work, with this same bench).
        sdk = Path(os.environ.get("SBD_SDK_DIR") or deploy.sdk_dir().parent)
        for py in sorted((sdk / "sbd").rglob("*.py")):
            rel = py.relative_to(sdk)
            deploy.compile_file(py, self.lib / rel.with_suffix(".mpy"), arch=self.arch, source_name=str(rel))
        self.compile(ROOT / "tests" / "device" / "fakeboard.py", "fakeboard")
        # CONFIG and CONFIG_DOC alone, without the fuzzers' other schemas.
        text = (ROOT / "tests" / "device" / "validate_schemas.py").read_text()
        cut = tmp / "bench_config.py"
        cut.write_text(text[: text.index("# An OTA-manifest-like")])
        self.compile(cut, "bench_config")
        self.board = tmp / "board"
        self.board.mkdir()
        self.n = 0

    def compile(self, src: Path, name: str) -> None:
        deploy.compile_file(src, self.lib / f"{name}.mpy", arch=self.arch, source_name=f"{name}.py")

    def script(self, text: str) -> str:
        """Compile text as a module; return its name."""
        self.n += 1
        name = f"bench_heap_{self.n}"
        src = self.tmp / f"{name}.py"
        src.write_text(text)
        self.compile(src, name)
        return name

    def run(self, module: str, heap_kib: int, work: Path | None = None) -> int | None:
        """The RESULT the module printed, or None when it ran out of heap."""
        if work is not None:
            shutil.copytree(self.board, work)
        out = subprocess.run(
            [require_tool("micropython"), "-X", f"heapsize={heap_kib}K", "-c", f"import {module}"],
            capture_output=True,
            text=True,
            env={"MICROPYPATH": str(self.lib)},
            timeout=300,
        )
        if work is not None:
            shutil.rmtree(work)
        for line in out.stdout.splitlines():
            if line.startswith("RESULT "):
                return int(line[7:])
        if "MemoryError" in out.stdout + out.stderr:
            return None
        raise RuntimeError(f"{module} at {heap_kib}K failed:\n{out.stdout[-1500:]}{out.stderr[-1500:]}")

    def measure(self, body: str, top: int) -> tuple[float, int]:
        """(median live bytes, smallest heap in KiB) of one script body."""
        work = self.tmp / "w"
        mod = self.script((_HEAD + body + _TAIL) % {"dir": str(work)})
        lives = [self.run(mod, top, work) for _ in range(RUNS)]
        if any(x is None for x in lives):
            raise RuntimeError(f"does not run at {top}K")
        # Down from `top` in 1 KiB steps to the first failure: fragmentation
        # makes success not monotonic in the heap size (a bisection would
        # report a size with failing ones above it).
        need = top
        while need > HEAP_LO and self.run(mod, need - 1, work) is not None:
            need -= 1
        return statistics.median(x for x in lives if x is not None), need


def main() -> None:
    baseline = "--baseline" in sys.argv[1:]
    before: dict[str, dict[str, float]] = {}
    prev = RESULTS / "heap-before.json"
    if prev.exists() and not baseline:
        before = json.loads(prev.read_text())["items"]
    items: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="sbd-bench-heap-") as tmp:
        b = Bench(Path(tmp))
        if b.run(b.script(PROVISION % {"dir": str(b.board), "it": ITERATIONS}), 256) is None:
            raise RuntimeError("provisioning ran out of heap")
        for m in MODULES:
            live, needs = b.measure(f"import {m}\n", TOP_IMPORT)
            items[f"import {m}"] = {"live": live, "needs": needs}
            print(f"import {m}: {live / 1024:.1f} KiB live, needs {needs} KiB", file=sys.stderr)
        for name, body in OPERATIONS.items():
            live, needs = b.measure(body, TOP_OPERATION)
            items[name] = {"live": live, "needs": needs}
            print(f"{name}: {live / 1024:.1f} KiB live, needs {needs} KiB", file=sys.stderr)
    if baseline:
        prev.write_text(json.dumps({"items": items}, indent=1) + "\n")
        return

    def cell(d: dict[str, float] | None, key: str) -> str:
        if d is None:
            return ""
        return f"{d['live'] / 1024:.1f} KiB" if key == "live" else f"{d['needs']:.0f} KiB"

    lines = [
        "# The SDK's RAM on MicroPython (`bench/bench_heap.py`, `make bench`)",
        "",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores; host Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d')}",
        f"- MicroPython unix port ({platform.machine()}, 64-bit: objects and pointers are about twice their "
        "size on a 32-bit board; bytecode about the same), the SDK as .mpy (`-march` for viper code)",
        f"- live: heap in use after the step (gc.collect(), result held), median of {RUNS} processes; "
        "needs: the smallest `-X heapsize` from which every larger one (1 KiB steps, up to "
        f"{TOP_IMPORT} KiB for an import and {TOP_OPERATION} KiB for an operation) runs the whole step, "
        "imports included",
        f"- a board provisioned beforehand (PBKDF2 with {ITERATIONS} iterations, pico_w's count)",
        "",
        "| step | live before | live now | needs before | needs now |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, now in items.items():
        old = before.get(name)
        lines.append(
            f"| {name} | {cell(old, 'live')} | {cell(now, 'live')} | {cell(old, 'needs')} | {cell(now, 'needs')} |"
        )
    lines += [
        "",
        '"before": bench/results/heap-before.json, the same bench run on the SDK before the RAM work',
        "(`--baseline`); the notes below say what changed.",
    ]
    notes = RESULTS / "heap-notes.md"
    if notes.exists():
        lines += ["", notes.read_text().rstrip()]
    (RESULTS / "heap.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "heap.json").write_text(json.dumps({"items": items}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
