"""Finding boards and writing images to them.

Serial ports are matched to boards by USB VID/PID from the board configs
(Raspberry Pi 2E8A, Espressif 303A USB-Serial/JTAG, CP210x and CH34x
bridges).  An RP2 board in BOOTSEL mode is a USB drive whose volume label is
RPI-RP2 (RP2040) or RP2350, with an INFO_UF2.TXT naming the chip; a UF2 file
copied to it is written to flash.  ESP32-family boards are written through
esptool's Python API (esptool.cmds), never by running esptool.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import boards
from ..boards import BoardConfig
from ..errors import SbdError
from . import uf2
from .firmware import FirmwareError, quiet

BOOTSEL_LABELS = {"rp2040": "RPI-RP2", "rp2350": "RP2350"}
_COPY_CHUNK = 64 * 1024
Progress = Callable[[int, int], None]  # (done, total)


class FlashError(SbdError):
    """Writing a board failed; the message says how far it got and what to do."""


@dataclass(frozen=True)
class Port:
    """One serial port as the OS lists it (serial.tools.list_ports)."""

    device: str
    vid: int | None
    pid: int | None
    description: str = ""


@dataclass(frozen=True)
class Found:
    device: str
    boards: tuple[str, ...]  # every board whose USB ids fit
    what: str  # the config's description of those ids


def list_ports() -> list[Port]:
    from serial.tools import list_ports as lp

    return [Port(p.device, p.vid, p.pid, p.description or "") for p in lp.comports()]


def detect(ports: Iterable[Port] | None = None, board: str | None = None) -> list[Found]:
    """Serial ports whose USB ids belong to a known board (only `board`'s if given)."""
    ids: dict[tuple[int, int], list[tuple[str, str]]] = {}
    for name in boards.names():
        for u in boards.load(name).usb:
            ids.setdefault((u.vid, u.pid), []).append((name, u.what))
    out = []
    for p in sorted(list_ports() if ports is None else ports, key=lambda p: p.device):
        if p.vid is None or p.pid is None:
            continue
        fits = ids.get((p.vid, p.pid), [])
        names = tuple(sorted({n for n, _ in fits}))
        if board is not None:
            names = tuple(n for n in names if n == board)
        if names:
            out.append(Found(p.device, names, fits[0][1]))
    return out


def bootsel_roots() -> list[Path]:
    """Where desktops mount USB drives (Linux, macOS)."""
    user = os.environ.get("USER") or getpass.getuser()
    return [Path("/media") / user, Path("/run/media") / user, Path("/media"), Path("/mnt"), Path("/Volumes")]


def find_bootsel(board: BoardConfig, roots: Sequence[Path] | None = None) -> list[Path]:
    """Mounted BOOTSEL drives of the board's chip: a folder named by the
    volume label holding an INFO_UF2.TXT whose Board-ID is that label."""
    label = BOOTSEL_LABELS.get(board.chip)
    if label is None:
        return []
    found = []
    for root in bootsel_roots() if roots is None else roots:
        d = root / label
        info = d / "INFO_UF2.TXT"
        try:
            text = info.read_text(errors="replace")[:4096]
        except OSError:
            continue
        if f"Board-ID: {label}" in text:
            found.append(d)
    return found


def copy_uf2(image: bytes, drive: Path, progress: Progress | None = None) -> Path:
    """Write a UF2 file to a BOOTSEL drive.  The board reboots when the last
    block arrives, so the file is written in one pass and synced."""
    uf2.parse(image, "the image")  # never send the boot ROM something it would half-take
    target = drive / "sbd.uf2"
    try:
        with open(target, "wb") as f:
            for off in range(0, len(image), _COPY_CHUNK):
                f.write(image[off : off + _COPY_CHUNK])
                if progress:
                    progress(min(off + _COPY_CHUNK, len(image)), len(image))
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise FlashError(
            f"{drive}: the copy stopped ({e.strerror or e}); the board may hold a partly written firmware: "
            "unplug it, hold BOOTSEL while plugging it back in, and run `sbd flash` again"
        ) from e
    return target


def picotool() -> str | None:
    return shutil.which("picotool")


def flash_picotool(image_path: Path, tool: str) -> None:
    """picotool load -v -x: write, verify and start a board in BOOTSEL mode."""
    r = subprocess.run([tool, "load", "-v", "-x", str(image_path)], capture_output=True, text=True, timeout=300)
    if r.returncode:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        raise FlashError(f"picotool could not write {image_path}: {tail[0]}")


def flash_rp2(
    image: bytes,
    board: BoardConfig,
    *,
    image_path: Path | None = None,
    roots: Sequence[Path] | None = None,
    use_picotool: bool = False,
    progress: Progress | None = None,
) -> str:
    """Write a UF2 image to an RP2 board in BOOTSEL mode; returns where it went."""
    blocks = uf2.parse(image, "the image")
    if any(b.family not in (board.uf2_family_id, uf2.FAMILY_ABSOLUTE) for b in blocks):
        raise FirmwareError(f"the image holds UF2 blocks for another chip than {board.name}'s {board.chip}")
    if use_picotool:
        tool = picotool()
        if tool is None:
            raise FlashError("picotool is not installed; leave out --picotool to copy to the BOOTSEL drive")
        if image_path is None:
            raise FlashError("picotool needs the image as a file")
        flash_picotool(image_path, tool)
        return "picotool"
    drives = find_bootsel(board, roots)
    if not drives:
        raise FlashError(
            f"no {BOOTSEL_LABELS.get(board.chip, 'BOOTSEL')} drive is mounted: hold the BOOTSEL button while "
            f"plugging the {board.title} in (and mount the drive if your desktop does not)"
            + ("; or pass --picotool" if picotool() else "")
        )
    if len(drives) > 1:
        raise FlashError(f"several BOOTSEL drives are mounted ({', '.join(map(str, drives))}): plug in one board")
    return str(copy_uf2(image, drives[0], progress))


# -- ESP32 family: esptool's API ----------------------------------------------


def flash_esp32(
    port: str,
    image: bytes,
    board: BoardConfig,
    *,
    address: int | None = None,
    erase: bool = False,
    show: bool = False,
) -> str:
    """Write `image` at `address` (the board's firmware offset by default; 0
    for a merged per-device image) and verify it, through esptool.cmds.
    Returns the chip esptool found.  `show`: leave esptool's output on stdout
    (its progress bar); otherwise it is captured here.  Threads must pass
    show=True: stdout redirection is process-wide, so flash_many captures
    once around all its threads."""
    from esptool import cmds

    addr = board.firmware_offset if address is None else address
    if addr + len(image) > board.flash_size:
        raise FirmwareError(f"{len(image)} bytes at {addr:#x} do not fit the {board.flash_size // 1024} KiB flash")
    log = None
    esp: Any = None
    try:
        with contextlib.nullcontext() if show else quiet() as log:
            esp = cmds.detect_chip(port)
            chip = str(esp.CHIP_NAME)
            if chip.replace("-", "").lower() != board.chip:
                raise FlashError(
                    f"{port}: esptool found an {chip}, but board {board.name} is an {board.chip}: "
                    "give the right --board (nothing was written)"
                )
            esp = cmds.run_stub(esp)
            cmds.attach_flash(esp)
            if erase:
                cmds.erase_flash(esp)
            cmds.write_flash(esp, [(addr, image)])
            cmds.verify_flash(esp, [(addr, image)])
            cmds.reset_chip(esp, "hard-reset")
        return chip
    except SbdError:
        raise
    except Exception as e:  # esptool's FatalError, serial errors when the port vanishes
        raise FlashError(
            f"{port}: esptool stopped: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}. "
            "If the write had started, the board holds a partly written image: hold BOOT, press RESET "
            "and run `sbd flash` again"
        ) from e
    finally:
        if esp is not None:
            with contextlib.suppress(Exception):  # closing a vanished port fails; nothing more to do
                esp._port.close()
        del log


@dataclass
class Result:
    target: str
    ok: bool
    detail: str


def flash_many(targets: Sequence[str], one: Callable[[str], str], *, jobs: int = 4) -> list[Result]:
    """Run `one` for each target in parallel; one failing board never stops
    the others.  `one` must not redirect stdout itself (see flash_esp32)."""

    def run(t: str) -> Result:
        try:
            return Result(t, True, one(t))
        except SbdError as e:
            return Result(t, False, str(e))
        except Exception as e:  # a bug on one board is still reported, not raised past the others
            return Result(t, False, f"internal error: {type(e).__name__}: {e}")

    # One capture for all threads: esptool's interleaved output is not shown.
    with quiet(), ThreadPoolExecutor(max_workers=max(1, min(jobs, len(targets) or 1))) as pool:
        return list(pool.map(run, targets))
