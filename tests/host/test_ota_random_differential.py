"""sbd.ota's client against python-tuf's ngclient over seeded random
repository histories (tests/host/ota_random.py): releases, root rotations
with new keys and thresholds, key revocations, re-signing, the clock moving
on, and attacks served once.  After every step both clients refresh (and
download the newest release's targets), each with its own trusted metadata
carried from step to step; they must accept and refuse at the same steps
and leave the same trusted metadata.  The device client runs on the real
MicroPython unix port and on CPython through the shims.

The seeds are fixed (a failure prints the seed and the step); SEEDS steps
run in `make test`; `-m slow` runs more histories."""

from __future__ import annotations

from pathlib import Path

import ota_random
import pytest

from harness import devscript

ROOT = Path(__file__).resolve().parents[2]
STEPS = 24
SEEDS = (1, 2, 3, 4, 5, 6)
SLOW_SEEDS = tuple(range(100, 124))

REPLAY = """
import binascii
import gc
from sbd import _fs, ota
from sbd.crypto.sha256 import sha256
from sbd.ota import client
_fs.STATE_DIR = BASE + "/state"
initial = open(BASE + "/root.json", "rb").read()
def h(role):
    try:
        data = open(client.state_dir() + "/" + role + ".json", "rb").read()
    except OSError:
        data = initial if role == "root" else None
    return "-" if data is None else binascii.hexlify(sha256(data)).decode()
i = 0
for line in open(BASE + "/plan.txt").read().split("\\n"):
    if not line:
        continue
    now, downloads = line.split(" ")
    d = BASE + "/" + str(i)
    got = "ok"
    gc.collect()
    try:
        t = client.refresh(client.DirFetcher(d + "/metadata"), now, initial)
        for path in downloads.split(","):
            client.download(t, client.DirFetcher(d + "/targets"), path, BASE + "/target")
    except ota.OtaError as e:
        got = e.reason
    t = None
    print("STEP", got, h("root"), h("timestamp"), h("snapshot"), h("targets"))
    i += 1
"""


def _device(runtime: str, base: Path, build: Path) -> list[str]:
    head = f"BASE = {str(base)!r}\n"
    # 256K: not a heap test (test_ota_heap.py is)
    out = devscript.run(runtime, head + REPLAY, heap="256K", mpy=build, timeout=600)
    return [line[5:] for line in out.splitlines() if line.startswith("STEP ")]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return devscript.compile_sdk(tmp_path_factory.mktemp("mpy"))


def compare(seed: int, runtime: str, tmp: Path, build: Path) -> tuple[int, int]:
    """(steps compared, steps both refused) for one seed; fails on the
    first step where the clients differ."""
    hist = ota_random.History(seed, STEPS)
    base = tmp / f"seed{seed}"
    hist.write(base)
    ref = hist.ngclient(base)
    dev = _device(runtime, base, build)
    assert len(dev) == len(ref), f"seed {seed}: the device ran {len(dev)} of {len(ref)} steps"
    refused = 0
    for i, (r, d) in enumerate(zip(ref, dev, strict=True)):
        kind, when = hist.steps[i][0], hist.steps[i][1]
        r_ok, d_ok = r.split()[0] == "ok", d.split()[0] == "ok"
        where = f"seed {seed} step {i} ({kind} at {when}): ngclient {r.split()[0]}, device {d.split()[0]}"
        assert r_ok == d_ok, "decisions differ: " + where
        assert r.split()[1:] == d.split()[1:], "trusted metadata differs: " + where
        refused += not r_ok
    return len(ref), refused


def _run(seeds: tuple[int, ...], runtime: str, tmp: Path, build: Path) -> None:
    steps = refused = 0
    for seed in seeds:
        n, k = compare(seed, runtime, tmp, build)
        steps += n
        refused += k
    print(f"\n{runtime}: {len(seeds)} histories, {steps} steps compared, {refused} refused by both")
    # Not vacuous: the histories take both turns.
    assert 0 < refused < steps


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_random_histories_agree_with_ngclient(runtime: str, tmp_path: Path, build: Path) -> None:
    _run(SEEDS, runtime, tmp_path, build)


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_more_random_histories_agree_with_ngclient(runtime: str, tmp_path: Path, build: Path) -> None:
    _run(SLOW_SEEDS, runtime, tmp_path, build)


def test_a_history_is_the_same_for_the_same_seed() -> None:
    a, b = ota_random.History(7, 12), ota_random.History(7, 12)
    assert [(k, t, f) for k, t, f, _ in a.steps] == [(k, t, f) for k, t, f, _ in b.steps]
