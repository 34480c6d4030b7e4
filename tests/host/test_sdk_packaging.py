"""The SDK's packaging by capability (host_tools/sbdtools/sdkpkg.py): every
module is in one capability, each capability requires what it imports, the
committed mip packages and manifests are current, and installing one
capability with `mpremote mip install` puts exactly its files on a board."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sbdtools import sdkpkg
from sbdtools.vboard import serial, store

SDK = Path(__file__).resolve().parents[2] / "sdk"


# -- the table ---------------------------------------------------------------


def test_every_sdk_module_is_in_exactly_one_capability() -> None:
    sdkpkg.check_table()  # raises, naming the files, when one is in no capability or in two


def test_a_module_in_no_capability_is_caught(tmp_path: Path) -> None:
    tree = tmp_path / "sbd"
    shutil.copytree(SDK / "sbd", tree, ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "crypto" / "newthing.py").write_text("x = 1\n")
    with pytest.raises(sdkpkg.TableError, match=r"in no capability.*sbd/crypto/newthing\.py"):
        sdkpkg.check_table(tree)
    (tree / "crypto" / "newthing.py").unlink()
    (tree / "crypto" / "aead.py").unlink()
    with pytest.raises(sdkpkg.TableError, match=r"not under sdk/sbd: sbd/crypto/aead\.py"):
        sdkpkg.check_table(tree)


def test_requirement_cycles_and_unknown_names_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    cap = sdkpkg.Capability
    monkeypatch.setattr(sdkpkg, "CAPABILITIES", (cap("a", "", ("a.py",), ("b",)), cap("b", "", ("b.py",), ("a",))))
    with pytest.raises(sdkpkg.TableError, match="cycle"):
        sdkpkg.closure(["a"])
    monkeypatch.setattr(sdkpkg, "CAPABILITIES", (cap("a", "", ("a.py",), ("nope",)),))
    with pytest.raises(sdkpkg.TableError, match="unknown capability 'nope'"):
        sdkpkg.closure(["a"])


def _module_file(mod: str) -> str | None:
    """sbd.x.y -> 'sbd/x/y.py' or 'sbd/x/y/__init__.py', if it is an SDK module."""
    rel = mod.replace(".", "/")
    for cand in (f"{rel}.py", f"{rel}/__init__.py"):
        if (SDK / cand).is_file():
            return cand
    return None


def _imported_sdk_files(path: Path) -> set[str]:
    """The SDK files importing `path` loads (parent packages included), from
    every import statement in it, lazy ones inside functions too."""
    mods: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            mods.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods.add(node.module)
            mods.update(f"{node.module}.{a.name}" for a in node.names)  # `from sbd.crypto import sha512`
    out = set()
    for m in mods:
        if m == "sbd" or m.startswith("sbd."):
            parts = m.split(".")
            for i in range(1, len(parts) + 1):
                f = _module_file(".".join(parts[:i]))
                if f is not None:
                    out.add(f)
    return out


@pytest.mark.parametrize("cap", [c.name for c in sdkpkg.CAPABILITIES])
def test_each_capability_requires_what_its_modules_import(cap: str) -> None:
    have = set(sdkpkg.files_for([cap]))
    for f in sdkpkg.by_name()[cap].files:
        need = _imported_sdk_files(SDK / "sbd" / f)
        assert need <= have, (
            f"sbd/{f} imports {sorted(need - have)}, which sbd-{cap} does not require: "
            "add the capability to its `requires` in sdkpkg.CAPABILITIES"
        )


def test_the_import_check_sees_a_lazy_import_of_a_submodule() -> None:
    # ed25519 loads sha512 inside a function (`from sbd.crypto import sha512 as m`).
    assert "sbd/crypto/sha512.py" in _imported_sdk_files(SDK / "sbd" / "crypto" / "ed25519.py")


# -- the generated files -----------------------------------------------------


def test_committed_packaging_files_are_current() -> None:
    assert sdkpkg.stale(SDK) == [], "sdk/ packaging files are stale: run `.venv/bin/python -m sbdtools.sdkpkg`"


def test_staleness_is_detected(tmp_path: Path) -> None:
    sdk = tmp_path / "sdk"
    shutil.copytree(SDK, sdk, ignore=shutil.ignore_patterns("__pycache__", "sbd"))
    assert sdkpkg.stale(sdk) == []
    (sdk / "sbd-aead.json").write_text("{}\n")
    (sdk / "manifests" / "sbd-core" / "manifest.py").unlink()
    (sdk / "sbd-gone.json").write_text("{}\n")
    assert sdkpkg.stale(sdk) == ["manifests/sbd-core/manifest.py", "sbd-aead.json", "sbd-gone.json"]


def test_package_json_is_the_whole_sdk() -> None:
    doc = json.loads((SDK / "package.json").read_text())
    assert [u[0] for u in doc["urls"]] == [f"sbd/{f}" for f in sdkpkg.sdk_sources()]
    assert doc["version"] == sdkpkg.__version__


# -- manifests: what freezing would include -----------------------------------


class Manifest:
    """The part of MicroPython's tools/manifestfile.py our manifests use:
    metadata(), add_library(), require(name, library=), include(),
    package(path, files=, base_path=).  Paths are relative to the manifest
    being run, as there.  Collects {target path: source file}."""

    def __init__(self) -> None:
        self.frozen: dict[str, Path] = {}
        self.libraries: dict[str, Path] = {}
        self.metadata_seen: list[dict[str, Any]] = []
        self._dirs: list[Path] = []
        self._visited: set[Path] = set()

    def _here(self) -> Path:
        return self._dirs[-1]

    def include(self, path: str | Path) -> None:
        p = (self._here() / path) if self._dirs else Path(path)
        p = p.resolve()
        if p.is_dir():
            p = p / "manifest.py"
        if p in self._visited:
            return
        self._visited.add(p)
        self._dirs.append(p.parent)
        try:
            g: dict[str, Callable[..., Any]] = {
                "metadata": lambda **kw: self.metadata_seen.append(kw),
                "add_library": self.add_library,
                "require": self.require,
                "include": self.include,
                "package": self.package,
            }
            exec(compile(p.read_text(), str(p), "exec"), g)
        finally:
            self._dirs.pop()

    def add_library(self, name: str, path: str) -> None:
        self.libraries[name] = (self._here() / path).resolve() if self._dirs else Path(path).resolve()

    def require(self, name: str, library: str | None = None) -> None:
        assert library is not None, "sbd's manifests name their library (works on MicroPython 1.22 too)"
        for root, _, files in os.walk(self.libraries[library]):
            if os.path.basename(root) == name and "manifest.py" in files:
                self.include(Path(root))
                return
        raise AssertionError(f"require({name!r}): not found in library {library!r}")

    def package(self, package_path: str, files: list[str], base_path: str = ".") -> None:
        for f in files:
            src = (self._here() / base_path / package_path / f).resolve()
            assert src.is_file(), src
            self.frozen[f"{package_path}/{f}"] = src


@pytest.mark.parametrize("cap", [c.name for c in sdkpkg.CAPABILITIES])
def test_a_capability_manifest_freezes_its_files_and_its_requirements(cap: str) -> None:
    m = Manifest()
    m.libraries["sbd"] = SDK  # what a board manifest's add_library("sbd", "path/to/sbd/sdk") does
    m.require(f"sbd-{cap}", library="sbd")
    assert sorted(m.frozen) == sdkpkg.files_for([cap])
    assert all(src == SDK / target for target, src in m.frozen.items())


def test_the_top_manifest_freezes_the_whole_sdk() -> None:
    m = Manifest()
    m.include(SDK / "manifest.py")
    assert sorted(m.frozen) == [f"sbd/{f}" for f in sdkpkg.sdk_sources()]
    assert m.metadata_seen[0]["version"] == sdkpkg.__version__


# -- mip on a virtual board --------------------------------------------------

LIST_LIB = """
import os
def walk(d):
    for name, kind, *_ in os.ilistdir(d):
        p = d + '/' + name
        if kind == 0x4000:
            walk(p)
        else:
            print('FILE', p[len('/lib/'):])
walk('/lib')
"""

# What each install must be able to do on the board afterwards.
USE = {
    "validate": "from sbd import validate as v; print('USE-OK', v.parse_json(b'[3]', v.list_of(v.integer(0, 9))))",
    "aead": "from sbd.crypto import aead; a = aead.Aead(bytes(32)); print('USE-OK', a.decrypt(a.encrypt(b'hi')))",
    "ed25519": "from sbd.crypto import ed25519; print('USE-OK', ed25519.BACKEND)",
}


def _mpremote(port: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    mpremote = str(Path(sys.executable).parent / "mpremote")
    return subprocess.run([mpremote, "connect", port, "resume", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("cap", [*USE, None])
def test_mip_install_puts_exactly_a_capability_on_a_board(
    cap: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SBD_HOME", str(tmp_path / "home"))
    vb = store.create("mip", "pico_w")
    port = serial.start_background(vb)
    pkg = SDK / (f"sbd-{cap}.json" if cap else "package.json")
    try:
        r = _mpremote(port, "mip", "install", str(pkg))
        assert r.returncode == 0, r.stdout + r.stderr
        r = _mpremote(port, "exec", LIST_LIB)
        on_board = sorted(line.split()[1] for line in r.stdout.splitlines() if line.startswith("FILE "))
        want = sdkpkg.files_for([cap] if cap else [c.name for c in sdkpkg.CAPABILITIES])
        assert on_board == want, r.stdout + r.stderr
        if cap == "validate":
            assert not any(f.startswith("sbd/crypto/") for f in on_board), "validate must not pull in crypto"
        code = USE[cap] if cap else "import sbd, sbd.crypto.hmac; print('USE-OK', sbd.__version__)"
        r = _mpremote(port, "exec", code)
        assert "USE-OK" in r.stdout and "Traceback" not in r.stdout, r.stdout + r.stderr
    finally:
        serial.stop_background(vb)
