"""`sbd keys` and `sbd ota` as a publisher runs them: the repository they make
is accepted by python-tuf's ngclient and by sbd.ota (on CPython through the
shims), a signer command can hold a key, and missing signatures are refused."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from ota_scenarios import BOUNDS, DirFetcher
from sbd_cli import PASS, new_keys, sbd
from tuf.api import exceptions as tuf_exc
from tuf.ngclient import Updater, UpdaterConfig

from harness import devscript

ROOT = Path(__file__).resolve().parents[2]


def ngclient_ok(repo: Path) -> list[str]:
    """Refresh and download every target with python-tuf; the paths."""
    config = UpdaterConfig(**{f"{k}_max_length": v for k, v in BOUNDS.items()})
    with tempfile.TemporaryDirectory() as state, tempfile.TemporaryDirectory() as tdir:
        up = Updater(
            state,
            "file://metadata/",
            tdir,
            "file://targets/",
            DirFetcher(repo),
            config,
            bootstrap=(repo / "metadata" / "1.root.json").read_bytes(),
        )
        up.refresh()
        paths = sorted(up._trusted_set.targets.targets)
        for p in paths:
            info = up.get_targetinfo(p)
            assert info is not None
            up.download_target(info, str(Path(tdir) / "t"))
        return paths


DEVICE = """
import sys
from sbd import _fs
from sbd.ota import client, release
_fs.STATE_DIR = sys.argv[2]
repo = sys.argv[1]
root = open(repo + "/metadata/1.root.json", "rb").read()
t = client.refresh(client.DirFetcher(repo + "/metadata"), "2026-11-30T00:00:00Z", root)
n = release.newest(t, "acme", "pico_w")
r = release.release(t, "acme", "pico_w", n)
for path, rel in r.files:
    client.download(t, client.DirFetcher(repo + "/targets"), path, sys.argv[2] + "/dl")
print(n, r.version, " ".join(rel for _, rel in r.files))
"""


def device_decides(repo: Path, tmp: Path) -> str:
    cmd, env = devscript.command("cpython", DEVICE)
    state = tmp / "device-state"
    state.mkdir(exist_ok=True)
    r = subprocess.run([*cmd, str(repo), str(state)], capture_output=True, text=True, env=env, timeout=300)
    return r.stdout.strip() if r.returncode == 0 else "refused: " + r.stderr.strip().splitlines()[-1]


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    return new_keys(tmp_path, ("root", "targets", "snapshot", "timestamp"))


def _init(tmp: Path, keys: dict[str, Path]) -> Path:
    repo = tmp / "repo"
    args = []
    for role, k in keys.items():
        args += [f"--{role}-key", f"{k}.pub"]
    sbd("ota", "init", str(repo), *args, tmp=tmp)
    return repo


def _app(tmp: Path, n: int) -> Path:
    app = tmp / f"app{n}"
    (app / "lib").mkdir(parents=True, exist_ok=True)
    (app / "main.py").write_text(f"import util\nprint(util.VERSION)  # {n}\n")
    (app / "lib" / "util.py").write_text(f"VERSION = {n}\n")
    return app


def _add(tmp: Path, repo: Path, n: int, version: str, *more: str) -> subprocess.CompletedProcess[str]:
    """`sbd ota add` of _app(tmp, n) as acme for pico_w."""
    where = ["--board", "pico_w", "--product", "acme", "--version", version]
    return sbd("ota", "add", str(repo), str(_app(tmp, n)), *where, *more, tmp=tmp)


def test_key_files_are_encrypted_and_private(tmp_path: Path) -> None:
    k = tmp_path / "k.key"
    sbd("keys", "new", str(k), tmp=tmp_path)
    assert k.stat().st_mode & 0o077 == 0
    assert b"ENCRYPTED PRIVATE KEY" in k.read_bytes()
    pub = json.loads(Path(f"{k}.pub").read_text())
    assert pub["keytype"] == "ed25519" and len(pub["keyval"]["public"]) == 64
    r = sbd("keys", "new", str(k), tmp=tmp_path, ok=False)
    assert r.returncode != 0 and "not overwriting" in r.stderr


def test_publish_and_both_clients_accept(tmp_path: Path, keys: dict[str, Path]) -> None:
    repo = _init(tmp_path, keys)
    _add(tmp_path, repo, 1, "1.0.0")
    digests = set()
    for role in ("root", "targets", "snapshot", "timestamp"):
        r = sbd("ota", "sign", str(repo), "--role", role, "--key", str(keys[role]), tmp=tmp_path)
        # sign shows what it signs (review F4): the change and a digest.
        assert "nothing published yet" in r.stdout and "acme release 1 added: 2 target(s)" in r.stdout, r.stdout
        assert "  + acme/pico_w/1/main.py" in r.stdout, r.stdout
        digests |= set(re.findall(r"staged state digest ([0-9a-f]{64})", r.stdout))
    assert len(digests) == 1, digests
    assert not (repo / "metadata").exists()  # staged: nothing is served before `publish`
    r = sbd("ota", "verify", str(repo), tmp=tmp_path, ok=False)
    assert r.returncode == 1 and "nothing published yet" in r.stderr, r.stderr
    r = sbd("ota", "verify", str(repo), "--staged", tmp=tmp_path)
    assert "release 1 (1.0.0), the newest" in r.stdout, r.stdout
    assert f"staged state digest {digests.pop()}" in r.stdout, r.stdout
    r = sbd("ota", "publish", str(repo), tmp=tmp_path)
    assert "first publish" in r.stdout and "targets v2" in r.stdout, r.stdout
    assert not (repo / "staging").exists()
    assert ngclient_ok(repo) == ["acme/pico_w/1/lib/util.mpy", "acme/pico_w/1/main.py"]
    assert device_decides(repo, tmp_path) == "1 1.0.0 lib/util.mpy main.py"
    # The .mpy was compiled for the board's architecture (armv6m on a Pico W).
    mpy = (repo / "targets" / "acme/pico_w/1/lib/util.mpy").read_bytes()
    assert mpy[0:1] == b"M"
    # A second release: unsigned it is refused by both, signed accepted.
    _add(tmp_path, repo, 2, "1.1.0")
    # Staged and unsigned: what is served is release 1, still whole, and
    # `publish` refuses the staged state (the device's reason printed).
    served = {p: p.read_bytes() for p in (repo / "metadata").iterdir()}
    assert ngclient_ok(repo) == ["acme/pico_w/1/lib/util.mpy", "acme/pico_w/1/main.py"]
    assert device_decides(repo, tmp_path) == "1 1.0.0 lib/util.mpy main.py"
    with pytest.raises(tuf_exc.UnsignedMetadataError):
        ngclient_ok(repo / "staging")
    r = sbd("ota", "publish", str(repo), tmp=tmp_path, ok=False)
    assert r.returncode == 1 and "metadata: REFUSED (signature)" in r.stdout, r.stdout + r.stderr
    assert "nothing was published" in r.stderr
    assert {p: p.read_bytes() for p in (repo / "metadata").iterdir()} == served
    assert not (repo / "targets" / "acme" / "pico_w" / "2").exists()
    r = sbd("ota", "verify", str(repo), "--staged", tmp=tmp_path, ok=False)
    assert r.returncode == 1 and "REFUSED (signature)" in r.stdout, r.stdout
    for role in ("targets", "snapshot", "timestamp"):
        sbd("ota", "sign", str(repo), "--role", role, "--key", str(keys[role]), tmp=tmp_path)
    assert device_decides(repo, tmp_path) == "1 1.0.0 lib/util.mpy main.py"  # signed, not yet published
    sbd("ota", "publish", str(repo), tmp=tmp_path)
    assert "acme/pico_w/2/main.py" in ngclient_ok(repo)
    assert device_decides(repo, tmp_path) == "2 1.1.0 lib/util.mpy main.py"


def test_wrong_key_and_wrong_passphrase_are_refused(tmp_path: Path, keys: dict[str, Path]) -> None:
    repo = _init(tmp_path, keys)
    r = sbd("ota", "sign", str(repo), "--role", "targets", "--key", str(keys["snapshot"]), tmp=tmp_path, ok=False)
    assert r.returncode != 0 and "not a targets key" in r.stderr
    r2 = sbd(
        "ota",
        "sign",
        str(repo),
        "--role",
        "targets",
        "--key",
        str(keys["targets"]),
        tmp=tmp_path,
        ok=False,
        passphrase="wrong passphrase",
    )
    assert r2.returncode != 0 and "cannot decrypt" in r2.stderr


SIGNER = """
import sys
from cryptography.hazmat.primitives import serialization
key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), sys.argv[2].encode())
sys.stdout.write(key.sign(sys.stdin.buffer.read()).hex())
"""


def test_an_external_signer_command_signs(tmp_path: Path, keys: dict[str, Path]) -> None:
    repo = _init(tmp_path, keys)
    _add(tmp_path, repo, 1, "1.0.0")
    script = tmp_path / "signer.py"
    script.write_text(SIGNER)
    for role in ("root", "targets", "snapshot", "timestamp"):
        cmd = f"{sys.executable} {script} {keys[role]} '{PASS}'"
        sbd("ota", "sign", str(repo), "--role", role, "--signer", cmd, "--public", f"{keys[role]}.pub", tmp=tmp_path)
    sbd("ota", "publish", str(repo), tmp=tmp_path)
    assert ngclient_ok(repo)
    # A signer that signs with the wrong key is caught before publishing.
    cmd = f"{sys.executable} {script} {keys['snapshot']} '{PASS}'"
    r = sbd(
        "ota",
        "sign",
        str(repo),
        "--role",
        "targets",
        "--signer",
        cmd,
        "--public",
        f"{keys['targets']}.pub",
        tmp=tmp_path,
        ok=False,
    )
    assert r.returncode != 0 and "does not verify" in r.stderr


def test_a_release_can_carry_the_sdk(tmp_path: Path, keys: dict[str, Path]) -> None:
    from sbdtools import ota, ota_verify
    from sbdtools.mpytools import NATIVE_ARCHS

    repo = _init(tmp_path, keys)
    r = _add(tmp_path, repo, 1, "1.0.0", "--with-sdk")
    for role in ("root", "targets", "snapshot", "timestamp"):
        sbd("ota", "sign", str(repo), "--role", role, "--key", str(keys[role]), tmp=tmp_path)
    sbd("ota", "publish", str(repo), tmp=tmp_path)
    base = repo / "targets" / "acme" / "pico_w" / "1"
    sdk = sorted(str(p.relative_to(base)) for p in (base / "lib" / "sbd").rglob("*") if p.is_file())
    want = sorted(
        "lib/" + str(p.relative_to(ROOT / "sdk").with_suffix(".mpy"))
        for p in (ROOT / "sdk" / "sbd").rglob("*.py")
        if "__pycache__" not in p.parts
    )
    # Every SDK module that can run from a slot: not the boot stage (sbd.boot,
    # sbd.bootcache), which
    # stays outside the slots, nor what it imported before the switch
    # (test_with_sdk_ships_what_runs_from_a_slot checks that set).
    assert "lib/sbd/boot.mpy" not in sdk and set(ota.BOOT_STAGE) & set(sdk) == set()
    assert set(ota.NOT_FROM_SLOT) & set(sdk) == set()
    assert sdk == [p for p in want if p not in ota.NOT_FROM_SLOT and p not in ota.BOOT_STAGE], r.stdout
    assert f"{len(sdk)} of them the SDK" in r.stdout
    # Compiled for the board: the native (viper) modules carry armv6m.
    native = [p for p in sdk if (base / p).read_bytes()[2] >> 2]
    assert "lib/sbd/validate/_scan.mpy" in native
    assert {NATIVE_ARCHS[(base / p).read_bytes()[2] >> 2] for p in native} == {"armv6m"}
    # The device's own checks take the SDK paths (release.app_path: lib/sbd/...).
    v = ota_verify.verify(repo, board="pico_w")
    assert not v.refused and not v.disagreements, v
    assert len([t for t in v.targets if t.path.startswith("acme/pico_w/1/lib/sbd/")]) == len(sdk)
    assert device_decides(repo, tmp_path).startswith("1 1.0.0 lib/sbd/")


def test_add_refuses_what_a_device_could_not_take(tmp_path: Path, keys: dict[str, Path]) -> None:
    # Releases carrying the SDK fill the device's bounds on targets.json (128
    # targets, 32 KiB) after a few; the one that would pass them is refused
    # before anything is written.  How many fit depends on the SDK's size.
    repo = _init(tmp_path, keys)
    app = _app(tmp_path, 1)
    before = b""
    for n in range(8):
        r = sbd("ota", "add", str(repo), str(app), "--board", "pico_w", "--product", "acme", "--version", f"1.{n}",
                "--with-sdk", tmp=tmp_path, ok=False)  # fmt: skip
        if r.returncode:
            break
        before = (repo / "staging" / "metadata" / "targets.json").read_bytes()
    else:
        raise AssertionError("eight releases with the SDK were taken: the device bounds are not checked")
    assert n >= 2, f"only {n} release(s) with the SDK fit"
    assert r.returncode == 1 and "a device takes at most" in r.stderr, r.stderr
    assert f"sbd ota prune {repo} --keep 1" in r.stderr, r.stderr
    assert (repo / "staging" / "metadata" / "targets.json").read_bytes() == before


def test_the_host_bounds_are_the_devices() -> None:
    from sbdtools import ota, shims

    shims.install()
    import importlib

    dev = importlib.import_module("sbd.ota")
    assert ota.DEVICE_MAX_TARGETS == dev.MAX_TARGETS
    assert ota.DEVICE_MAX_TARGETS_BYTES == dev.MAX_TARGETS_BYTES
    assert ota.DEVICE_MAX_TARGET_PATH == dev.MAX_TARGET_PATH


BOOT_LOADS = """
from sbd import _fs
_fs.STATE_DIR = TMP + "/state"
from sbd import boot
boot.APP_DIR = TMP + "/app"
print("SLOT", boot.run("no_such_app"))
print("LOADED", " ".join(sorted(m for m in sys.modules if m == "sbd" or m.startswith("sbd."))))
"""


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_with_sdk_ships_what_runs_from_a_slot(runtime: str, tmp_path: Path) -> None:
    # What sbd.boot.run() has imported when it points sbd.__path__ at a slot
    # (here: none, safe mode, the same path up to the switch) is exactly what
    # `add --with-sdk` leaves out; every other module it ships (the
    # with-SDK test above: all of sdk/sbd but these) is imported afresh
    # from the slot.
    from sbdtools import ota

    head = f"TMP = {str(tmp_path)!r}\n"
    mpy = devscript.compile_sdk(tmp_path / "mpy") if runtime == "micropython" else None
    cmd, env = devscript.command(runtime, head + BOOT_LOADS, heap="128K", mpy=mpy)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0 and "SLOT None" in r.stdout, r.stdout + r.stderr
    loaded = r.stdout.split("LOADED ", 1)[1].split()
    assert sorted(loaded) == sorted(ota.BOOT_LOADED), loaded
    assert set(ota.NOT_FROM_SLOT) == {
        f"lib/{'sbd/__init__' if m == 'sbd' else m.replace('.', '/')}{ext}" for m in loaded for ext in (".mpy", ".py")
    }


def test_prune_makes_room_for_another_sdk_release(tmp_path: Path, keys: dict[str, Path]) -> None:
    # Two releases with the SDK nearly fill a device's bounds; the third is
    # refused with a message naming prune; after `prune --keep 1`, signed and
    # published, it fits, and devices see only the newest releases.
    repo = _init(tmp_path, keys)
    app = _app(tmp_path, 1)
    add = ("--board", "pico_w", "--product", "acme", "--with-sdk", "--version")
    warned = []
    while True:
        r = sbd("ota", "add", str(repo), str(app), *add, f"1.{len(warned)}", tmp=tmp_path, ok=False)
        if r.returncode:
            break
        warned.append("one more release like this one would pass" in r.stderr and "sbd ota prune" in r.stderr)
    n = len(warned)
    assert n >= 2 and "sbd ota prune" in r.stderr, r.stderr
    # `add` warned on the last release that fit, and only on it.
    assert warned == [False] * (n - 1) + [True], warned
    r = sbd("ota", "prune", str(repo), "--keep", "1", "--dry-run", tmp=tmp_path)
    assert "would remove acme release 1 for pico_w" in r.stdout, r.stdout
    r = sbd("ota", "prune", str(repo), "--keep", "1", tmp=tmp_path)
    assert f"removed acme release {n - 1} for pico_w" in r.stdout and f"release {n} " not in r.stdout, r.stdout
    sbd("ota", "add", str(repo), str(app), *add, "2.0", tmp=tmp_path)
    for role in ("root", "targets", "snapshot", "timestamp"):
        sbd("ota", "sign", str(repo), "--role", role, "--key", str(keys[role]), tmp=tmp_path)
    sbd("ota", "publish", str(repo), tmp=tmp_path)
    releases = sorted({int(p.split("/")[2]) for p in ngclient_ok(repo)})
    assert releases == [n, n + 1], releases
    assert device_decides(repo, tmp_path).startswith(f"{n + 1} 2.0 lib/sbd/")
    assert sorted(p.name for p in (repo / "targets" / "acme" / "pico_w").iterdir()) == sorted([str(n), str(n + 1)])
