"""Random power cuts during an app update on a virtual Pico W: the install
(refresh, download, staging, commit) of release 2 over a confirmed release
1 is cut at a random flash write, seeded and reproducible (the seed is
printed; a fixed one by default, SBD_OTA_KILL_SEED=N picks another), then the board boots: it must run
release 1 or release 2, whole, and the same install run again must bring
release 2 (resuming what the cut install left).  Each kill restores a flash
snapshot instead of provisioning again.

`make test` runs KILLS_QUICK kills (30, or SBD_OTA_KILLS: .ci/run sets 300,
the issue's count); `pytest -m slow tests/vboard/test_ota_kills.py` runs
KILLS_SLOW (about 4 boots a kill)."""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from ota_repo import NOW, PRODUCT, board_files, make_repo

from harness.vboards import SdkBoard
from sbdtools.vboard import runner

# Release 1 and 2 of an app: a main.py and modules of a few KiB, so that an
# install makes a few hundred flash writes.
FILES = {
    n: {
        path: (b"# release %d %s\n" % (n, path.encode())) + random.Random(f"{n}{path}").randbytes(size)
        for path, size in (("main.py", 300), ("lib/a.mpy", 3000 + 500 * n), ("lib/b.mpy", 5000), ("lib/c.mpy", 2000))
    }
    for n in (1, 2)
}
KILLS_QUICK = int(os.environ.get("SBD_OTA_KILLS", "30"))
KILLS_SLOW = 300
SEED = 20261130  # the default, so that `make test` always cuts at the same writes

SETUP = f"""
from sbd.ota import client, release, slots
from sbd import boot
root = open('/repo/metadata/1.root.json', 'rb').read()
t = client.refresh(client.DirFetcher('/repo/metadata'), {NOW!r}, root)
slots.install(t, release.release(t, {PRODUCT!r}, 'pico_w', 1), client.DirFetcher('/repo/targets'))
boot.select()
print('CONFIRMED', boot.confirm())
"""

INSTALL = f"""
from sbd.ota import client, release, slots
root = open('/repo/metadata/1.root.json', 'rb').read()
t = client.refresh(client.DirFetcher('/repo/metadata'), {NOW!r}, root)
root = None
slots.install(t, release.release(t, {PRODUCT!r}, 'pico_w', 2), client.DirFetcher('/repo/targets'))
print('INSTALLED 2')
"""

COUNT = "import vboard\nprint('OPS', vboard.flash_ops())\n" + INSTALL + "print('OPS', vboard.flash_ops())\n"

# What boots: release, confirmed, and the SHA-256 of each file the app has.
INSPECT = f"""
import hashlib, binascii
from sbd import boot
d = boot.select()
p = boot.read_pointer()
print('BOOTS', p['release'] if p else None, p['confirmed'] if p else None)
for path in {sorted(FILES[1])!r}:
    try:
        h = binascii.hexlify(hashlib.sha256(open(d + '/' + path, 'rb').read()).digest()).decode()
    except (OSError, TypeError):
        h = 'missing'
    print('FILE', path, h)
"""


def _repo(tmp: Path) -> dict[str, bytes]:
    make_repo(tmp, "pico_w", {n: {p: ("app", d) for p, d in FILES[n].items()} for n in FILES})
    return board_files(tmp)


def _boots(res: runner.BootResult) -> int:
    assert res.ended == runner.EXIT and not res.formatted and "Traceback" not in res.output, res.output
    lines = res.output.splitlines()
    _, rel_s, confirmed = next(ln for ln in lines if ln.startswith("BOOTS ")).split()
    rel = int(rel_s)
    assert rel in (1, 2), res.output
    files = dict(ln.split()[1:] for ln in lines if ln.startswith("FILE "))
    want = {p: hashlib.sha256(d).hexdigest() for p, d in FILES[rel].items()}
    assert files == want, f"release {rel} is not whole: {res.output}"
    assert (confirmed == "True") == (rel == 1), res.output
    return rel


def _kills(make_sdk_board: Callable[..., SdkBoard], tmp: Path, count: int) -> None:
    seed = int(os.environ.get("SBD_OTA_KILL_SEED") or SEED)
    print(f"seed {seed} (SBD_OTA_KILL_SEED={seed} replays it)")
    rng = random.Random(seed)
    board = make_sdk_board(files=_repo(tmp))
    assert "CONFIRMED True" in board.exec(SETUP, timeout=300).output
    start = board.snapshot("confirmed-1")
    ops = [int(ln.split()[1]) for ln in board.exec(COUNT, timeout=300).output.splitlines() if ln.startswith("OPS ")]
    total = ops[1] - ops[0]
    assert total > 10, ops
    seen: dict[int, int] = {1: 0, 2: 0}
    t0 = time.monotonic()
    for i in range(count):
        n = rng.randint(1, total)
        board.restore(start)
        cut = board.boot("import vboard\nvboard.cut_after(%d)\n" % n + INSTALL, timeout=300)
        where = f"kill {i} at flash write {n} of {total} (seed {seed})"
        assert cut.ended != runner.EXIT or "INSTALLED 2" in cut.output, where + "\n" + cut.output
        rel = _boots(board.boot(INSPECT, timeout=300))
        seen[rel] += 1
        if rel == 1:
            # Still updates: the same install again, then release 2 boots.
            again = board.boot(INSTALL, timeout=300)
            assert "INSTALLED 2" in again.output, where + "\n" + again.output
            assert _boots(board.boot(INSPECT, timeout=300)) == 2, where
    print(
        f"{count} kills over {total} flash writes: release 1 after {seen[1]}, release 2 after {seen[2]}; "
        f"{time.monotonic() - t0:.0f} s"
    )
    assert seen[1] and seen[2], "the kills fell on both sides of the commit point"


def test_random_kills_during_an_install(make_sdk_board: Callable[..., SdkBoard], tmp_path: Path) -> None:
    _kills(make_sdk_board, tmp_path, KILLS_QUICK)


@pytest.mark.slow
def test_300_random_kills_during_an_install(
    request: pytest.FixtureRequest, make_sdk_board: Callable[..., SdkBoard], tmp_path: Path
) -> None:
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("opt-in: pytest -m slow tests/vboard/test_ota_kills.py")
    _kills(make_sdk_board, tmp_path, KILLS_SLOW)
