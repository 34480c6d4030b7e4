"""Power a virtual board on: run the real MicroPython unix port as the board.

`child_command` / `child_env` say how the board's process is started (shared
with the pty server in serial.py).  `boot` runs one power-on to the end of
main.py (or of a host script, for `exec`), without a REPL, and reports how
the board stopped: it finished, lost power (a cut the test asked for, or a
kill), reset itself, was reset by its watchdog, or was stopped on timeout.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import VBoardError
from ..mpytools import require_tool
from . import protocol as P
from .store import MAX_RECORD_BYTES, VBoard

DEVICE_DIR = Path(__file__).resolve().parent / "device"
ROM = DEVICE_DIR / "vbrom.py"

# machine.reset_cause() values (the numbers are the same on esp32 and rp2;
# rp2 defines only PWRON_RESET and WDT_RESET).
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
SOFT_RESET = 5
# machine.reset() on an ESP32 is esp_restart(): reset reason ESP_RST_SW,
# which ports/esp32/modmachine.c reports as HARD_RESET (so does an abort(),
# ESP_RST_PANIC); on an RP2 it is watchdog_reboot(): WDT_RESET
# (ports/rp2/modmachine.c).  A soft reboot on ESP32 reports SOFT_RESET (the
# ROM sets it); rp2 keeps the hardware's cause.
MACHINE_RESET_CAUSE = {"esp32": HARD_RESET, "rp2": WDT_RESET}
# The cause after the interpreter crashed (a panic reboot on ESP32; on rp2
# the host power-cycles it).
CRASH_RESET_CAUSE = {"esp32": HARD_RESET, "rp2": PWRON_RESET}
CPU_FREQ = {"esp32": 160_000_000, "esp32s3": 240_000_000, "rp2040": 125_000_000, "rp2350": 150_000_000}

# How a board process ended.
EXIT = "exit"  # main.py / the script returned, or Ctrl-D at the REPL
POWER_CUT = "power_cut"  # SIGKILL: an injected cut or a kill from outside
HARD_RESET_REQ = "hard_reset"  # machine.reset()
SOFT_RESET_REQ = "soft_reset"  # machine.soft_reset(), SystemExit from main.py
WATCHDOG = "watchdog"  # the WDT deadline passed
TIMEOUT = "timeout"  # the host gave up waiting
CRASH = "crash"  # the interpreter died another way


def micropython_binary() -> str:
    return require_tool("micropython")


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child, before exec: be SIGKILLed when the process that started
    us dies, however it dies, so no board process is ever left writing to a
    flash image that its lock no longer protects (Linux prctl)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def child_command(vb: VBoard, *, interactive: bool) -> list[str]:
    cmd = [micropython_binary(), "-X", f"heapsize={vb.heapsize_arg}"]
    if interactive:
        cmd.append("-i")
    cmd.append(str(ROM))
    return cmd


def child_env(
    vb: VBoard,
    *,
    mode: str,
    cause: int,
    reset: str = P.RESET_HARD,
    running: str = "",
    cut_at: int = 0,
    script: Path | None = None,
) -> dict[str, str]:
    cfg = vb.board
    if mode not in P.MODES or reset not in (P.RESET_HARD, P.RESET_SOFT):
        raise VBoardError(f"bad board mode {mode!r} / reset {reset!r}")
    env = {k: v for k, v in os.environ.items() if not k.startswith((P.ENV_PREFIX, "MICROPY"))}
    env.update(
        {
            "MICROPYPATH": str(DEVICE_DIR),
            P.ENV_IMAGE: str(vb.image),
            P.ENV_FLASH_SIZE: str(cfg.flash_size),
            P.ENV_FAMILY: cfg.family,
            P.ENV_CHIP: cfg.chip,
            P.ENV_BOARD: cfg.name,
            P.ENV_FS: f"{cfg.filesystem.offset}:{cfg.filesystem.size}:{cfg.filesystem.prog_size}",
            P.ENV_PT: str(cfg.partition_table_offset or 0),
            P.ENV_UID: vb.uid.hex(),
            P.ENV_CAUSE: str(cause),
            P.ENV_FREQ: str(CPU_FREQ.get(cfg.chip, 0)),
            P.ENV_RESET: reset,
            P.ENV_RUNNING: running,
            P.ENV_MODE: mode,
            P.ENV_CUT_AT: str(cut_at),
            P.ENV_RTC: str(vb.rtc),
            P.ENV_WDT: str(vb.wdt),
        }
    )
    if script is not None:
        env[P.ENV_EXEC] = str(script)
    return env


def read_rtc(vb: VBoard) -> dict[str, object]:
    """What the last boot reported (running app, formatted?, flash op counts)."""
    out: dict[str, object] = {}
    try:
        text = vb.rtc.read_bytes()[:MAX_RECORD_BYTES].decode("utf-8", "replace")
    except OSError:
        return out
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line torn by a power cut
        if isinstance(rec, dict):
            out.update(rec)
    return out


class Watchdog:
    """Resets the board when the deadline its WDT last wrote has passed."""

    def __init__(self, vb: VBoard, *, disarm: bool = True) -> None:
        self.vb = vb
        if disarm:  # a hard reset stops the watchdog; a soft reset does not (it keeps counting)
            vb.wdt.write_bytes(bytes(8))
        self.fired = False
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            try:
                (deadline,) = struct.unpack("<Q", self.vb.wdt.read_bytes()[:8].ljust(8, b"\0"))
            except OSError:
                continue
            if deadline and time.monotonic_ns() // 1_000_000 > deadline and self._proc is not None:
                self.fired = True
                self._proc.kill()
                return


def classify(returncode: int, *, watchdog_fired: bool = False, timed_out: bool = False) -> str:
    if timed_out:
        return TIMEOUT
    if watchdog_fired:
        return WATCHDOG
    if returncode == 0:
        return EXIT
    if returncode == -signal.SIGKILL:
        return POWER_CUT
    if returncode == -signal.SIGUSR1:
        return HARD_RESET_REQ
    if returncode == -signal.SIGUSR2:
        return SOFT_RESET_REQ
    return CRASH


@dataclass
class BootResult:
    output: str
    ended: str
    returncode: int
    formatted: bool
    running: str
    boot_ops: int | None
    end_ops: int | None
    uncaught: bool = False  # the script / main.py ended in an uncaught exception
    halted: bool = False  # the ROM stopped on a corrupt filesystem (ESP32)


def boot(
    vb: VBoard,
    *,
    script: str | None = None,
    cut_at: int = 0,
    cause: int = PWRON_RESET,
    reset: str = P.RESET_HARD,
    running: str = "",
    timeout: float = 120.0,
    on_output: Callable[[bytes], None] | None = None,
) -> BootResult:
    """One power-on: boot.py, then main.py (or `script` in its place).

    Holds the board's lock for the whole run.  `cut_at` > 0 cuts power at
    that flash operation (counted from power-on, bootloader writes included).
    """
    if cut_at < 0:
        raise VBoardError("cut_at must be >= 0")
    with vb.locked():
        script_path = None
        if script is not None:
            script_path = vb.dir / "exec.py"
            script_path.write_text(script)
        env = child_env(
            vb,
            mode=P.MODE_EXEC if script is not None else P.MODE_RUN,
            cause=cause,
            reset=reset,
            running=running,
            cut_at=cut_at,
            script=script_path,
        )
        try:
            vb.rtc.unlink()
        except FileNotFoundError:
            pass
        wd = Watchdog(vb, disarm=reset != P.RESET_SOFT)
        proc = subprocess.Popen(
            child_command(vb, interactive=False),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        try:
            return _supervise(vb, proc, wd, timeout, on_output)
        finally:
            # Whatever ended the wait (Ctrl-C, SIGTERM, an error), the board
            # process must not outlive the lock we are about to release.
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            wd.stop()


def _supervise(
    vb: VBoard, proc: subprocess.Popen[bytes], wd: Watchdog, timeout: float, on_output: Callable[[bytes], None] | None
) -> BootResult:
    wd.start(proc)
    chunks: list[bytes] = []
    timed_out = False
    deadline = time.monotonic() + timeout

    def pump() -> None:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
            if on_output:
                on_output(chunk)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    while proc.poll() is None:
        if time.monotonic() > deadline:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    reader.join(timeout=5)
    rtc = read_rtc(vb)
    boot_ops = rtc.get(P.RTC_BOOT_OPS)
    end_ops = rtc.get(P.RTC_END_OPS)
    return BootResult(
        output=b"".join(chunks).decode("utf-8", "replace"),
        ended=classify(proc.returncode, watchdog_fired=wd.fired, timed_out=timed_out),
        returncode=proc.returncode,
        formatted=bool(rtc.get(P.RTC_FORMATTED)),
        running=str(rtc.get(P.RTC_RUNNING) or ""),
        boot_ops=boot_ops if isinstance(boot_ops, int) else None,
        end_ops=end_ops if isinstance(end_ops, int) else None,
        uncaught=bool(rtc.get(P.RTC_UNCAUGHT)),
        halted=bool(rtc.get(P.RTC_HALTED)),
    )
