"""pytest fixtures for tests that need a virtual board with the SDK on it, and
the power-cut sweep helper.  Loaded for every test folder by the root
conftest.py, so any test (tests/vboard, docs/examples, a new module's tests)
can ask for them.

Fixtures:

``sdk_board``
    A fresh virtual Pico W (its own ``$SBD_HOME`` under the test's tmp_path)
    with the whole SDK at ``/lib/sbd`` as ``.mpy``: an `SdkBoard`.  Another
    board type: ``@pytest.mark.parametrize("sdk_board", ["esp32"], indirect=True)``.
``make_sdk_board``
    The factory behind it, for tests that want several boards, another board
    type, only some capabilities, or their own modules and files on the board:
    ``make_sdk_board(board="pico_w", name="dut", *, capabilities=None,
    modules=(), files=None, uid=None) -> SdkBoard``.
``sdk_image``
    Session-scoped: ``sdk_image(board="pico_w", *, capabilities=None,
    modules=(), files=None) -> Path``, the whole-flash image those boards
    start from.

Speed: an image is built once per test run for each distinct content, on the
host (mpy-cross, then a littlefs image placed in the flash layout: ~0.6 s for
the SDK; deploying through mpremote to a running board measured ~2.0 s), and
shared by the xdist workers (built under a file lock in the run's shared tmp
folder, keyed by a hash of everything that goes into it).  Each board is then
a copy of that file (~1 ms); booting one to run a script ~40 ms.

The image is booted once after it is built, writing and removing a file, so
the littlefs volume is in the state a board reaches after its first write
(the host builds an on-disk 2.0 volume, which the board's littlefs upgrades on
its first write): a power-cut sweep then counts only the operation's work.

``power_cut_sweep(board, operation, check, *, inspect="", step=1, at=None)`` is the
littlefs/MCUboot method: run `operation` (MicroPython source, run in place of
main.py) once to count its flash program/erase operations, then for each of
them start again from the same image, cut power there, boot again (running
`inspect`) and call ``check(board, result)``; see its docstring.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sbdtools import boards, deploy, fsimage, sdkpkg
from sbdtools.mpytools import interpreter_mpy, require_tool
from sbdtools.vboard import image as flash_image
from sbdtools.vboard import runner, store

DEFAULT_BOARD = "pico_w"
_SWEEP_START = "@@SBD-SWEEP-START"
_SWEEP_END = "@@SBD-SWEEP-END"
_PRIME = "import os\nwith open('.sbd-prime', 'w') as f:\n f.write('x')\nos.remove('.sbd-prime')\n"


@dataclass
class SdkBoard:
    """A virtual board made from an SDK image.  `exec` runs a script in
    place of main.py after boot.py (one power-on each call) and insists it
    finished cleanly; `boot` is the raw `runner.boot`, for power cuts and
    other endings a test wants to see."""

    vb: store.VBoard
    image: Path  # the image it was made from (shared: never write to it)

    @property
    def name(self) -> str:
        return self.vb.name

    @property
    def flash(self) -> Path:
        return self.vb.image

    def boot(self, script: str | None = None, **kw: object) -> runner.BootResult:
        return runner.boot(self.vb, script=script, **kw)  # type: ignore[arg-type]

    def exec(self, script: str, **kw: object) -> runner.BootResult:
        """Power on, run `script`; fail unless it ended normally, without a
        traceback, on a filesystem that mounted without formatting."""
        res = self.boot(script, **kw)
        if res.ended != runner.EXIT or "Traceback" in res.output or res.formatted:
            how = "its filesystem was reformatted at boot" if res.formatted else f"the board {res.ended}"
            raise AssertionError(f"{self.name}: {how} (status {res.returncode}):\n{res.output}")
        return res

    def snapshot(self, name: str = "snapshot") -> Path:
        """Copy of the flash as it is now (restore with `restore`)."""
        dest = self.vb.dir / f"{name}.bin"
        shutil.copyfile(self.vb.image, dest)
        return dest

    def restore(self, snapshot: Path) -> None:
        shutil.copyfile(snapshot, self.vb.image)

    def provision(self, password: str, *, serial: str = "SBD-1", iterations: int = 1000) -> None:
        """Give the board a factory record on the board itself (the device
        half of `sbd provision`), with this password and few iterations."""
        script = (
            "from sbd.identity import provision as p\n"
            "from sbd.crypto.kdf import pbkdf2_hmac_sha256\n"
            "salt = b'\\x11' * 16\n"
            f"p.provision(bytes(range(32)), {serial!r}, 'Model 1', '2030-01-31', 'sec@x.example', salt, {iterations},\n"
            f"            pbkdf2_hmac_sha256({password!r}.encode(), salt, {iterations}, 32))\n"
            "print('PROVISIONED')\n"
        )
        out = self.exec(script).output
        if "PROVISIONED" not in out:
            raise AssertionError(f"{self.name}: provisioning did not finish:\n{out}")


# -- images ------------------------------------------------------------------


def _tool_version(tool: str) -> str:
    r = subprocess.run([require_tool(tool), "--version"], capture_output=True, text=True, timeout=60)
    return (r.stdout or r.stderr).strip()


class ImageCache:
    """Builds SDK flash images once per key and hands out their paths."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.arch = interpreter_mpy(runner.micropython_binary())[2]  # the unix port's own native arch
        self._tools = f"{_tool_version('mpy-cross')}|{interpreter_mpy(runner.micropython_binary())}"
        self._memo: dict[str, Path] = {}

    def _plan(
        self, capabilities: Iterable[str] | None, modules: Sequence[Path], files: Mapping[str, str | bytes] | None
    ) -> dict[str, tuple[str, bytes]]:
        """Board path -> (how it is made, source bytes)."""
        sdk = deploy.sdk_dir()
        names = (
            sdkpkg.sdk_sources()
            if capabilities is None
            else [f.removeprefix("sbd/") for f in sdkpkg.files_for(capabilities)]
        )
        plan = {f"lib/sbd/{n[:-3]}.mpy": ("mpy", (sdk / n).read_bytes()) for n in names}
        for m in map(Path, modules):
            if m.suffix != ".py" or not m.is_file():
                raise ValueError(f"{m}: a module is a .py file")
            if f"lib/{m.stem}.mpy" in plan:
                raise ValueError(f"{m}: two modules named {m.stem!r}")
            plan[f"lib/{m.stem}.mpy"] = ("mpy", m.read_bytes())
        for path, data in (files or {}).items():
            plan[path.lstrip("/")] = ("raw", data.encode() if isinstance(data, str) else data)
        return plan

    def get(
        self,
        board: str = DEFAULT_BOARD,
        *,
        capabilities: Iterable[str] | None = None,
        modules: Sequence[Path] = (),
        files: Mapping[str, str | bytes] | None = None,
    ) -> Path:
        caps = None if capabilities is None else sorted(capabilities)
        plan = self._plan(caps, modules, files)
        h = hashlib.sha256(f"{board}|{self._tools}|{sdkpkg.__version__}".encode())
        for path in sorted(plan):
            kind, data = plan[path]
            h.update(f"\0{path}\0{kind}\0{len(data)}\0".encode())
            h.update(data)
        key = h.hexdigest()[:24]
        if key in self._memo:
            return self._memo[key]
        out = self.root / f"{board}-{key}.bin"
        with _flock(self.root / f"{board}-{key}.lock"):
            if not out.is_file():
                self._build(board, plan, out)
        self._memo[key] = out
        return out

    def _build(self, board: str, plan: Mapping[str, tuple[str, bytes]], out: Path) -> None:
        cfg = boards.load(board)
        work = out.with_suffix(".build")
        shutil.rmtree(work, ignore_errors=True)
        tree, src = work / "tree", work / "src"
        for path, (kind, data) in plan.items():
            dest = tree / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            if kind == "raw":
                dest.write_bytes(data)
                continue
            source = src / Path(path).with_suffix(".py")
            source.parent.mkdir(parents=True, exist_ok=True)
            source.write_bytes(data)
            rel = str(Path(path).relative_to("lib").with_suffix(".py"))  # sbd/crypto/aead.py, as deploy names it
            deploy.compile_file(source, dest, arch=self.arch, source_name=rel)
        # A board record of its own, in the build folder, to boot the image once.
        vb_dir = work / "board"
        vb_dir.mkdir()
        flash_image.create_flash_image(cfg, vb_dir / "flash.bin")
        with open(vb_dir / "flash.bin", "r+b") as f:
            fsimage.place_in_flash(f, cfg, fsimage.build_image(tree, cfg))
        (vb_dir / "wdt").write_bytes(bytes(8))
        vb = store.VBoard(
            name="image", dir=vb_dir, board=cfg, uid=bytes(store.UID_LEN[cfg.family]), heap=cfg.heap_bytes
        )
        SdkBoard(vb, out).exec(_PRIME)
        tmp = out.with_suffix(".tmp")
        shutil.copyfile(vb_dir / "flash.bin", tmp)
        os.replace(tmp, out)
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _shared_root(factory: pytest.TempPathFactory) -> Path:
    base = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # xdist: <run>/popen-gwN per worker; the run's folder is shared
    root = base / "sbd-images"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="session")
def sdk_image(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    return ImageCache(_shared_root(tmp_path_factory)).get


@pytest.fixture
def make_sdk_board(
    sdk_image: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., SdkBoard]:
    monkeypatch.setenv("SBD_HOME", str(tmp_path / "home"))

    def make(
        board: str = DEFAULT_BOARD,
        name: str = "dut",
        *,
        capabilities: Iterable[str] | None = None,
        modules: Sequence[Path] = (),
        files: Mapping[str, str | bytes] | None = None,
        uid: bytes | None = None,
    ) -> SdkBoard:
        img = sdk_image(board, capabilities=capabilities, modules=modules, files=files)
        vb = store.create(name, board, uid=uid)
        shutil.copyfile(img, vb.image)
        return SdkBoard(vb, img)

    return make


@pytest.fixture
def sdk_board(request: pytest.FixtureRequest, make_sdk_board: Callable[..., SdkBoard]) -> SdkBoard:
    return make_sdk_board(getattr(request, "param", DEFAULT_BOARD))


# -- power-cut sweep -----------------------------------------------------------


@dataclass
class Sweep:
    """What a sweep did: the operation's flash operations were numbers
    `first`..`last` counted from power-on; `cuts` lists where power was cut."""

    first: int
    last: int
    cuts: list[int] = field(default_factory=list)

    @property
    def ops(self) -> int:
        return self.last - self.first + 1


def _marks(output: str) -> tuple[int, int] | None:
    try:
        start = int(output.split(_SWEEP_START, 1)[1].split()[0])
        end = int(output.split(_SWEEP_END, 1)[1].split()[0])
    except (IndexError, ValueError):
        return None
    return start, end


def power_cut_sweep(
    board: SdkBoard,
    operation: str,
    check: Callable[[SdkBoard, runner.BootResult], None],
    *,
    inspect: str = "",
    step: int = 1,
    at: Iterable[int] | None = None,
    timeout: float = 120.0,
) -> Sweep:
    """Cut power at each flash program/erase of `operation`; check after each.

    `operation` is MicroPython source run in place of main.py, from the
    board's flash as it is when the sweep starts (set it up first).  The
    sweep runs it once uncut to count its flash operations (it must finish
    cleanly and write at least once), reboots running `inspect` (source; ""
    just boots) and calls ``check(board, result)`` with that boot's
    `runner.BootResult`: the finished operation must satisfy the invariant
    too.  Then for each of its operations N (every `step`-th, and always the
    last; or only those listed in `at`, counted from 1 = the operation's
    first, or from -1 = its last, for an operation with thousands where a
    few places matter) it
    restores the starting flash, runs `operation` with power cut at N,
    reboots with `inspect` and calls `check` again.  `check` raises
    AssertionError when the invariant does not hold; it may power the board
    on again (``board.exec(...)``) to look further.  The sweep fails, naming
    the cut, if a reboot does not end cleanly, the filesystem was
    reformatted, or a replay did not reach operation N (an operation whose
    flash work varies from run to run cannot be swept this way).

    Afterwards the board holds the flash left by the last cut and its check.
    """
    if step < 1:
        raise ValueError("step must be >= 1")
    wrapped = (
        f"import vboard\nprint({_SWEEP_START!r}, vboard.flash_ops())\n{operation}\n"
        f"print({_SWEEP_END!r}, vboard.flash_ops())\n"
    )
    start = board.snapshot("sweep-start")
    counted = board.exec(wrapped, timeout=timeout)
    marks = _marks(counted.output)
    if marks is None:
        raise AssertionError(f"the operation did not print the sweep markers:\n{counted.output}")
    before, after = marks
    if after <= before:
        raise ValueError("the operation did no flash program or erase: there is nothing to cut")
    sweep = Sweep(first=before + 1, last=after)
    _checked(board, check, inspect, timeout, "after the operation finished without a cut")
    if at is not None:
        wanted = sorted({i if i > 0 else sweep.ops + 1 + i for i in at})
        if not wanted or wanted[0] < 1 or wanted[-1] > sweep.ops:
            raise ValueError(
                f"`at` must list operations 1..{sweep.ops} or -1..-{sweep.ops} (the operation did {sweep.ops})"
            )
        points = [before + i for i in wanted]
    else:
        points = list(range(sweep.first, sweep.last + 1, step))
        if points[-1] != sweep.last:
            points.append(sweep.last)
    for n in points:
        where = (
            f"after a power cut at flash operation {n} (operation {n - before} of {sweep.ops} of the swept operation)"
        )
        board.restore(start)
        res = board.boot(wrapped, cut_at=n, timeout=timeout)
        if res.ended != runner.POWER_CUT or _SWEEP_START not in res.output:
            raise AssertionError(
                f"replaying the operation did not reach flash operation {n} (the board "
                f"{res.ended}); its flash work differs between runs:\n{res.output}"
            )
        sweep.cuts.append(n)
        _checked(board, check, inspect, timeout, where)
    return sweep


def _checked(
    board: SdkBoard, check: Callable[[SdkBoard, runner.BootResult], None], inspect: str, timeout: float, where: str
) -> None:
    try:
        res = board.exec(inspect or "pass", timeout=timeout)
        check(board, res)
    except AssertionError as e:
        raise AssertionError(f"{where}: {e}") from e
    except Exception as e:  # a check that crashed (a parse error, say) also fails at this cut
        raise AssertionError(f"{where}: the check raised {type(e).__name__}: {e}") from e
