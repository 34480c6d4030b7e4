"""A release that carries the SDK (`sbd ota add --with-sdk`: every module
but the boot stage, compiled for the board, under the slot's lib/sbd/)
installed on a virtual Pico 2 W (its 2.5 MiB filesystem holds /lib/sbd,
the pushed repository and the release's slot at once): the app of that release imports the
release's SDK modules, not /lib's; after its trial runs out unconfirmed,
the board rolls back to a release without the SDK and /lib/sbd again."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from ota_repo import PRODUCT, board_files, make_repo

from harness.vboards import SdkBoard
from sbdtools import boards, deploy, ota, ota_publish

BOARD = "pico2_w"

# The app: which sbd.trustedtime it gets (the release's own carries a marker).
PROBE = "import sbd, sbd.trustedtime\nprint('SDK', getattr(sbd.trustedtime, 'MARKER', 'lib'), sbd.__path__)\n"

INSTALL = """
from sbd.ota import client, release, slots
from sbd import boot
root = open('/repo/metadata/1.root.json', 'rb').read()
t = client.refresh(client.DirFetcher('/repo/metadata'), %r, root)
rel = release.release(t, 'acme-sensor', 'pico2_w', %d)
slots.install(t, rel, client.DirFetcher('/repo/targets'))
print('INSTALLED', len(rel.files))
"""

BOOT = """
from sbd import boot
print('SLOT', boot.run())
"""


def _release_2(repo: Path, tmp: Path) -> int:
    """What `sbd ota add REPO APP --board pico2_w --with-sdk` does
    (commands/ota.py), with sbd.trustedtime changed (a marker line)."""
    app = tmp / "app2"
    app.mkdir()
    (app / "main.py").write_text(PROBE)
    cfg = boards.load(BOARD)
    out = tmp / "bundle"
    names = deploy.build_bundle(out, arch=cfg.mpy_arch, app=app, with_sdk=True)
    files = {n: (out / n).read_bytes() for n in names if n not in ota.NOT_FROM_SLOT}
    marked = tmp / "trustedtime.py"
    marked.write_text((deploy.sdk_dir() / "trustedtime.py").read_text() + "\nMARKER = 'release 2'\n")
    deploy.compile_file(marked, tmp / "trustedtime.mpy", arch=cfg.mpy_arch, source_name="sbd/trustedtime.py")
    assert "lib/sbd/trustedtime.mpy" in files and "lib/sbd/boot.mpy" not in files
    files["lib/sbd/trustedtime.mpy"] = (tmp / "trustedtime.mpy").read_bytes()
    ota.add_release(repo, files, product=PRODUCT, board=BOARD, version="2.0.0")
    for role, seed in (("targets", "tg"), ("snapshot", "sn"), ("timestamp", "ts")):
        ota.sign_role(repo, role, ota.signer_from_seed(hashlib.sha256(seed.encode()).digest()))
    ota_publish.publish(repo)
    return len(files)


def test_the_app_runs_the_sdk_its_release_carries(make_sdk_board: Callable[..., SdkBoard], tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, BOARD, {1: {"main.py": ("app", PROBE.encode())}})
    count = _release_2(repo, tmp_path)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    board = make_sdk_board(BOARD, files=board_files(repo))
    # Release 1 (no SDK) installed and confirmed: its app gets /lib/sbd.
    assert "INSTALLED 1" in board.exec(INSTALL % (now, 1), timeout=300).output
    out = board.exec(BOOT + "boot.confirm()\n").output
    assert "SDK lib /lib/sbd" in out and "SLOT /.sbd/app/a" in out, out
    # Release 2 with the SDK: on every trial boot its app gets the slot's.
    out = board.exec(INSTALL % (now, 2), timeout=300).output
    assert f"INSTALLED {count}" in out, out
    for _ in range(3):
        out = board.exec(BOOT).output
        assert "SDK release 2 /.sbd/app/b/lib/sbd" in out and "SLOT /.sbd/app/b" in out, out
    # Never confirmed: rolled back to release 1, and to /lib/sbd.
    out = board.exec(BOOT + "print('NOW', boot.installed(), boot.failed())\n").output
    assert "SDK lib /lib/sbd" in out and "SLOT /.sbd/app/a" in out and "NOW (1, 0) 2" in out, out
