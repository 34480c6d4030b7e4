"""Benchmark sbd.creds on a virtual board (`make bench`).

A virtual Pico W with the SDK as .mpy (the test harness's image), provisioned
on a board of the default heap; its flash is then copied to a board with the
same unique id and a small heap (HEAP_KIB), where each run boots and:

* times creds.get(name) and a bare Aead.decrypt of the same value's record
  with the same associated data length, and creds.set(name, value) and a bare
  Aead.encrypt of the same value, in the same run (ratios per run, median of
  RUNS boots);
* measures the heap: `from sbd import creds` (module and sbd.events), the
  first use (the factory record loaded through sbd.identity and sbd.validate,
  the keys derived, the crypto modules imported), what the module itself keeps
  between calls (its cached keys, freed by creds._restart()), and the bytes a
  get and a set allocate (gc disabled around one call).

Why not a 64 KiB heap: sbd.identity.load() (sbd.validate parsing the factory
record) does not fit one (MemoryError at 64, 72 and 80 KiB, measured), and
every use of the store needs the record once per boot for its keys.  96 KiB
is the smallest 16 KiB step where it fits.

Writes bench/results/creds.md and creds.json.  No thresholds.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchlib import cpu_model

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]

from harness.vboards import ImageCache, SdkBoard  # noqa: E402
from sbdtools.vboard import store  # noqa: E402

RESULTS = ROOT / "bench" / "results"
RUNS = 11
HEAP_KIB = 96
GET_LOOPS = 100
SET_LOOPS = 20

PROVISION = """
from sbd.identity import provision as p
p.provision(bytes(range(32)), 'SBD-1', 'Model 1', '2030-01-31', 'sec@x.example', b'\\x11' * 16, 1000, bytes(32))
print('PROVISIONED')
"""

SCRIPT = r"""
import gc, json, time, micropython
gc.collect(); a0 = gc.mem_alloc()
from sbd import events
gc.collect(); a1 = gc.mem_alloc()
from sbd import creds
gc.collect(); a2 = gc.mem_alloc()
creds.names()
gc.collect(); a3 = gc.mem_alloc()
creds._restart()
gc.collect(); a4 = gc.mem_alloc()
creds.names()
gc.collect()
from sbd.crypto.aead import Aead
from sbd.crypto import random_bytes
bare = Aead(random_bytes(32), b"creds")
res = {"import_events": a1 - a0, "import_creds": a2 - a1, "first_use": a3 - a2, "keys_held": a3 - a4, "cases": []}

def t(fn, n):
    gc.collect()
    s = time.ticks_us()
    for _ in range(n):
        fn()
    return time.ticks_diff(time.ticks_us(), s) / n

def alloc(fn):
    gc.collect(); gc.disable()
    b = gc.mem_alloc(); fn(); e = gc.mem_alloc()
    gc.enable()
    return e - b

for size, others in %(cases)r:
    creds.wipe()
    for i in range(others):
        creds.set("other%%d" %% i, b"o" * 32)
    v = bytes(range(256)) * (size // 256) + bytes(size %% 256)
    name = "value"
    creds.set(name, v)
    ad = bytes(12) + name.encode()  # store id, generation, name: the length creds uses
    rec = bare.encrypt(v, ad)
    c = {"size": size, "entries": others + 1}
    # Interleaved in rounds, so the store and the bare AEAD see the same machine load.
    g = d = s = e = 0
    for _ in range(10):
        g += t(lambda: creds.get(name), %(get_loops)d // 10)
        d += t(lambda: bare.decrypt(rec, ad), %(get_loops)d // 10)
        s += t(lambda: creds.set(name, v), %(set_loops)d // 10)
        e += t(lambda: bare.encrypt(v, ad), %(set_loops)d // 10)
    c["get_us"], c["decrypt_us"], c["set_us"], c["encrypt_us"] = g / 10, d / 10, s / 10, e / 10
    c["get_alloc"] = alloc(lambda: creds.get(name))
    c["set_alloc"] = alloc(lambda: creds.set(name, v))
    c["file_bytes"] = __import__("os").stat("/.sbd/state/creds.bin")[6]
    res["cases"].append(c)
print("RESULT", json.dumps(res))
"""

CASES = [(64, 0), (64, 3), (1024, 0), (1024, 2)]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="sbd-bench-creds-") as d:
        os.environ["SBD_HOME"] = str(Path(d) / "home")
        (Path(d) / "img").mkdir()
        img = ImageCache(Path(d) / "img").get("pico_w")
        prov = store.create("prov", "pico_w")
        shutil.copyfile(img, prov.image)
        SdkBoard(prov, img).exec(PROVISION)
        vb = store.create("bench", "pico_w", heap=HEAP_KIB * 1024, uid=prov.uid)
        board = SdkBoard(vb, img)
        start = vb.dir / "start.bin"
        shutil.copyfile(prov.image, start)
        script = SCRIPT % {"cases": CASES, "get_loops": GET_LOOPS, "set_loops": SET_LOOPS}
        runs = []
        for _ in range(RUNS):
            board.restore(start)
            out = board.exec(script, timeout=600).output
            line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
            runs.append(json.loads(line[7:]))
        version = board.exec("import sys\nprint('V', sys.version)").output.split("V ", 1)[1].split("\n")[0].strip()

    def med(xs: list[float]) -> float:
        return float(statistics.median(xs))

    cases: list[dict[str, Any]] = []
    for i, (size, others) in enumerate(CASES):
        rs = [r["cases"][i] for r in runs]
        cases.append(
            {
                "size": size,
                "entries": others + 1,
                "file_bytes": rs[0]["file_bytes"],
                "get_us": med([r["get_us"] for r in rs]),
                "decrypt_us": med([r["decrypt_us"] for r in rs]),
                "get_ratio": med([r["get_us"] / r["decrypt_us"] for r in rs]),
                "set_us": med([r["set_us"] for r in rs]),
                "encrypt_us": med([r["encrypt_us"] for r in rs]),
                "set_ratio": med([r["set_us"] / r["encrypt_us"] for r in rs]),
                "get_alloc": med([r["get_alloc"] for r in rs]),
                "set_alloc": med([r["set_alloc"] for r in rs]),
            }
        )
    mem = {k: med([r[k] for r in runs]) for k in ("import_events", "import_creds", "first_use", "keys_held")}
    load = os.getloadavg()[0]
    result = {
        "machine": cpu_model(),
        "load_average_1min": round(load, 2),
        "micropython": version,
        "board": "virtual pico_w",
        "heap_kib": HEAP_KIB,
        "runs": RUNS,
        "get_loops": GET_LOOPS,
        "set_loops": SET_LOOPS,
        "memory": mem,
        "cases": cases,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "creds.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = "\n".join(
        f"| {c['size']} B | {c['entries']} | {c['file_bytes']} B | {c['get_us']:.0f} | {c['decrypt_us']:.0f} "
        f"| **{c['get_ratio']:.2f}x** | {c['set_us']:.0f} | {c['encrypt_us']:.0f} | **{c['set_ratio']:.1f}x** "
        f"| {c['get_alloc']:.0f} B | {c['set_alloc']:.0f} B |"
        for c in cases
    )
    md = f"""# sbd.creds benchmark (`bench/bench_creds.py`, `make bench`)

- machine: {result["machine"]} (shared VM, 2 cores, 1-minute load average {load:.1f} at the end: other
  test runs shared it, so the file I/O in get and set is slowed more than the bare AEAD and the ratios
  move with the load: under a load near 10, runs of this script spread by a factor of 2 or more); `sys.version`
  {version}
- a virtual Pico W (the unix port running the SDK as .mpy, littlefs on the emulated flash), heap {HEAP_KIB} KiB
- median of {RUNS} boots; per boot, get timed over {GET_LOOPS} calls and set over {SET_LOOPS}, in 10 rounds
  interleaved with the bare calls; each ratio is
  taken within its boot, against a bare `Aead` (sbd.crypto.aead, keys derived once) decrypting / encrypting
  the same value with associated data of the same length, in the same run; "allocs" is the heap a
  call allocates (gc disabled around one call), "file" the store file's size

Why {HEAP_KIB} KiB and not 64: `sbd.identity.load()` (sbd.validate parsing the factory record) raises
MemoryError in a 64, 72 and 80 KiB heap, and the store needs the record once per boot for its keys.

## Latency (µs per call)

| value | entries | file | get | decrypt | get/decrypt | set | encrypt | set/encrypt | get allocs | set allocs |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
{rows}

Where the time goes: a get reads the whole file, checks its HMAC, then decrypts one record; a set does
that, re-encrypts every other entry for the new generation (their associated data carries it), and
writes the file through a temporary file and a rename (littlefs metadata commits on the emulated flash).

## Memory (bytes of heap, gc.mem_alloc after gc.collect)

| what | bytes |
|---|---:|
| `from sbd import events` | {mem["import_events"]:.0f} |
| `from sbd import creds` (after events) | {mem["import_creds"]:.0f} |
| first use (factory record through sbd.identity and sbd.validate, keys, crypto modules) | {mem["first_use"]:.0f} |
| of which the module keeps between calls (its cached keys: `creds._restart()` frees them) | {mem["keys_held"]:.0f} |

Idle, the module holds its code and globals (the import line) and its keys; everything else of the first
use is sbd.identity, sbd.validate and the crypto modules, which stay imported (shared with sbd.auth).
"""
    (RESULTS / "creds.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
