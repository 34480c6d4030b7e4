"""Put the SDK and an app on a board: compile with mpy-cross, copy with mpremote.

Layout on the board (the same on every port, and on the virtual board):
    /boot.py, /main.py        the app's entry points, kept as source (the
                              firmware executes them by name)
    /lib/sbd/*.mpy            the SDK, precompiled for the board's architecture
    /lib/<app modules>.mpy    the app's other modules, precompiled
`build_bundle` does the host-side work (usable without a board, for images);
`deploy` copies a bundle through mpremote to a serial port (a real board's,
or a virtual board's pty).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from .errors import SbdError
from .mpytools import require_tool

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
            if rel.parts[0] == "sbd" or rel.parts[:2] == ("lib", "sbd"):
                raise SbdError(f"{p}: the app may not contain sbd/ (it would replace SDK modules on the board)")
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
    """Copy a staged bundle to the board on `port` with mpremote."""
    dirs = sorted({str(Path(f).parent) for f in files if str(Path(f).parent) != "."}, key=len)
    all_dirs: set[str] = set()
    for d in dirs:
        parts = Path(d).parts
        all_dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    mk = "import os\nfor d in %r:\n try:\n  os.mkdir(d)\n except OSError:\n  pass\n" % sorted(all_dirs, key=len)
    _mpremote(port, "exec", mk)
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
            progress(done, len(files))
