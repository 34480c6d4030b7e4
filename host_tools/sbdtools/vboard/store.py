"""Where virtual boards live, and their records.

Each board is a folder under ``$SBD_HOME/vboards`` (default
``~/.local/share/sbd/vboards``) holding ``board.json`` (its name, board type,
unique id, heap), ``flash.bin`` (the whole flash, laid out like the board),
and small run-time files: ``state.json`` while it is served on a pty,
``rtc.json`` (what the last boot reported), ``wdt`` (the watchdog deadline).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import boards
from ..boards import BoardConfig
from ..errors import SbdError, VBoardError
from .image import create_flash_image

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
UID_LEN = {"esp32": 6, "rp2": 8}  # esp32: the base MAC; rp2: the flash chip's unique id
# The ROM's own modules (machine, esp32, flash emulation) live on the heap of
# the unix port, where on a board they are in ROM: give the board this much
# on top of its real heap so the app starts with what it would have on
# hardware.  Measured (gc.mem_free() after gc.collect() in a script, 64-bit
# unix port): the ROM holds about 28,000 B on rp2 (machine, rp2, the sys/os/io
# additions) and 43,000 B on esp32 (plus esp32.Partition/NVS, the image check,
# flashbdev and inisetup); tests/vboard checks the app's free heap stays
# within 8 KiB below the board's heap figure.
ROM_HEAP_ALLOWANCE = {"rp2": 27 * 1024, "esp32": 42 * 1024}
MAX_RECORD_BYTES = 16 * 1024


def home() -> Path:
    base = os.environ.get("SBD_HOME")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(xdg) / "sbd"


@dataclass(frozen=True)
class VBoard:
    name: str
    dir: Path
    board: BoardConfig
    uid: bytes
    heap: int

    @property
    def image(self) -> Path:
        return self.dir / "flash.bin"

    @property
    def rtc(self) -> Path:
        return self.dir / "rtc.json"

    @property
    def wdt(self) -> Path:
        return self.dir / "wdt"

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.dir / "lock"

    @property
    def log_file(self) -> Path:
        return self.dir / "serial.log"

    @property
    def heapsize_arg(self) -> str:
        return str(self.heap + ROM_HEAP_ALLOWANCE[self.board.family])

    def state(self) -> dict[str, Any]:
        """The serving process's state, or {} when the board is off.

        A state file is believed only while the board's lock is held (the
        server holds it for its whole life) and its pid is alive: a server
        that was SIGKILLed leaves a stale file, and its pid may since belong
        to an unrelated process that `stop` must never signal."""
        try:
            data = self.state_file.read_bytes()[:MAX_RECORD_BYTES]
            st = json.loads(data)
        except (OSError, ValueError):
            return {}
        if not isinstance(st, dict) or not _alive(st.get("pid")) or self.lock_is_free():
            return {}
        return st

    def lock_is_free(self) -> bool:
        """True when no process holds the board (its server, a deploy...)."""
        try:
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
        return True

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the board: one process at a time drives its flash."""
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                st = self.state()
                where = f" on {st['pty']}" if st.get("pty") else ""
                raise VBoardError(
                    f"virtual board {self.name!r} is in use{where}; stop it first (`sbd vboard stop {self.name}`)"
                ) from None
            yield
        finally:
            os.close(fd)


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_name(name: str) -> None:
    if not NAME_RE.fullmatch(name):
        raise VBoardError(
            f"bad board name {name!r}: use 1-32 lower-case letters, digits, '-' or '_', starting with a letter or digit"
        )


def board_dir(name: str) -> Path:
    _check_name(name)
    return home() / "vboards" / name


def create(
    name: str,
    board: str,
    *,
    uid: bytes | None = None,
    heap: int | None = None,
    force: bool = False,
    fs_from: Path | None = None,
) -> VBoard:
    """Make a new virtual board with erased flash laid out like `board` (a name
    from board_configs; the record stores the name, so it must load by name).

    With `fs_from`, its filesystem region holds a littlefs2 volume built on
    the host from that folder (as an offline-flashed board would)."""
    if board not in boards.names():
        raise VBoardError(f"unknown board {board!r}; known boards: {', '.join(boards.names())}")
    cfg = boards.load(board)
    d = board_dir(name)
    if d.exists():
        if not force:
            raise VBoardError(
                f"virtual board {name!r} already exists; remove it (`sbd vboard rm {name}`) or use --force"
            )
        remove(name)
    n = UID_LEN[cfg.family]
    if uid is None:
        uid = secrets.token_bytes(n)
    elif len(uid) != n:
        raise VBoardError(f"a {cfg.name} unique id is {n} bytes, got {len(uid)}")
    if heap is not None and not 16 * 1024 <= heap <= 64 * 1024 * 1024:
        raise VBoardError("heap must be between 16 KiB and 64 MiB")
    fs_image = None
    if fs_from is not None:
        from ..fsimage import build_image

        fs_image = build_image(fs_from, cfg)  # before anything is created: a bad folder leaves nothing behind
    d.mkdir(parents=True)
    record = {"name": name, "board": cfg.name, "uid": uid.hex(), "heap": heap or cfg.heap_bytes}
    create_flash_image(cfg, d / "flash.bin")
    if fs_image is not None:
        from ..fsimage import place_in_flash

        with open(d / "flash.bin", "r+b") as f:
            place_in_flash(f, cfg, fs_image)
    (d / "wdt").write_bytes(bytes(8))
    tmp = d / "board.json.tmp"
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(d / "board.json")
    return get(name)


def get(name: str) -> VBoard:
    d = board_dir(name)
    rec_path = d / "board.json"
    if not rec_path.is_file():
        raise VBoardError(f"no virtual board named {name!r}; create it with `sbd vboard new {name} --board pico_w`")
    try:
        rec = json.loads(rec_path.read_bytes()[:MAX_RECORD_BYTES])
        uid = bytes.fromhex(rec["uid"])
        heap = int(rec["heap"])
        board = str(rec["board"])
    except (ValueError, KeyError, TypeError) as e:
        raise VBoardError(f"{rec_path}: damaged board record ({e}); remove and re-create the board") from e
    cfg = boards.load(board)
    if not (d / "flash.bin").is_file() or (d / "flash.bin").stat().st_size != cfg.flash_size:
        raise VBoardError(f"{d / 'flash.bin'}: missing or not {cfg.flash_size} bytes; re-create the board")
    return VBoard(name=name, dir=d, board=cfg, uid=uid, heap=heap)


def list_boards() -> list[VBoard]:
    root = home() / "vboards"
    out = []
    if root.is_dir():
        for d in sorted(root.iterdir()):
            if (d / "board.json").is_file() and NAME_RE.fullmatch(d.name):
                with contextlib.suppress(SbdError):  # a damaged record must not hide the others
                    out.append(get(d.name))
    return out


def remove(name: str) -> None:
    d = board_dir(name)
    if not d.exists():
        raise VBoardError(f"no virtual board named {name!r}")
    vb_state: dict[str, Any] = {}
    with contextlib.suppress(SbdError):  # a damaged record can still be removed
        vb_state = get(name).state()
    if vb_state.get("pid"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(vb_state["pid"]), signal.SIGTERM)
    shutil.rmtree(d)
