"""Serve a virtual board on a pseudo-terminal, as a USB serial port.

The user side is a pty whose path (``/dev/pts/N``) real mpremote opens
(``mpremote connect /dev/pts/N resume fs ls``).  Behind it, the board is the
MicroPython unix port running the vboard ROM with ``-i``, on a second pty of
its own (its controlling terminal, so Ctrl-C raises KeyboardInterrupt in
running code exactly as on a board).  This server relays bytes and does what
the board's firmware does and the unix port does not:

* soft reboot: Ctrl-D at the REPL (or machine.soft_reset(), or SystemExit in
  main.py) ends the unix process; the server prints ``MPY: soft reboot`` and
  starts it again on the same flash image and the same pty, running boot.py
  (and main.py unless the raw REPL was active, which it re-enters, as the
  ports do and mpremote expects);
* machine.reset() and the watchdog: a new boot through the bootloader with
  the matching reset cause;
* the banner names the emulated board.
Only a stop (SIGTERM/SIGINT to the server) or a kill ends the board.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
import tty
from typing import Any

from ..errors import VBoardError
from . import runner
from .store import VBoard

INIT_DONE = b"\x00SBDVB-INIT\x00\n"
SENTINEL = b"\x00SBDVB-READY\x00\n"
PROMPT = b">>> "
CTRL_A, CTRL_B, CTRL_D = b"\x01", b"\x02", b"\x04"
_DEBUG = os.environ.get("SBD_VB_DEBUG") == "1"
_MAX_PENDING = 1 << 20  # bytes of user input held while the board restarts


def split_at_marker(buf: bytes, marker: bytes) -> tuple[bytes, bytes, bool]:
    """(bytes to pass on, bytes to keep, marker found).

    When found, the kept bytes are what follows the marker.  When not, only
    a tail that could be the start of the marker is kept back, so ordinary
    output (a prompt, a partial line) is never held up waiting for more."""
    i = buf.find(marker)
    if i >= 0:
        return buf[:i], buf[i + len(marker):], True
    # The earliest place in the tail where the marker could be starting (a
    # marker may contain its own first byte again, as ours do: \x00...\x00).
    j = buf.find(marker[:1], max(0, len(buf) - len(marker) + 1))
    while j >= 0:
        if marker.startswith(buf[j:]):
            return buf[:j], buf[j:], False
        j = buf.find(marker[:1], j + 1)
    return buf, b"", False


def _child_tty() -> tuple[int, int]:
    master, slave = pty.openpty()
    # Raw, but with ISIG: Ctrl-C from the host becomes SIGINT while code
    # runs (the unix REPL turns ISIG off itself while it reads a line).
    tty.setraw(slave)
    attrs = termios.tcgetattr(slave)
    attrs[3] |= termios.ISIG
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    return master, slave


def _child_setup() -> None:  # runs in the child between fork and exec
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # the pty is its controlling terminal: Ctrl-C -> SIGINT
    runner.die_with_parent()


class Server:
    def __init__(self, vb: VBoard, *, owner_pid: int | None = None) -> None:
        self.vb = vb
        self.owner_pid = owner_pid
        self.stopping = False
        self.user_master, self.user_slave = pty.openpty()
        tty.setraw(self.user_slave)
        self.pty_path = os.ttyname(self.user_slave)
        self.boots = 0

    # -- state shown by `sbd vboard ls` --------------------------------------
    def _write_state(self, status: str, **extra: Any) -> None:
        st = {"pid": os.getpid(), "pty": self.pty_path, "status": status, "boots": self.boots, **extra}
        tmp = self.vb.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(st))
        tmp.replace(self.vb.state_file)

    def _debug(self, what: str, data: bytes = b"") -> None:
        # SBD_VB_DEBUG=1: trace phases and bytes to stderr (the board's serial.log).
        if _DEBUG:
            print(f"{time.monotonic():.3f} {what} {data!r}", file=sys.stderr, flush=True)

    def _to_user(self, data: bytes) -> None:
        if data:
            with contextlib.suppress(OSError):
                os.write(self.user_master, data)

    def banner(self) -> bytes:
        cfg = self.vb.board
        return (f"MicroPython (unix port) on sbd virtual board {self.vb.name}; {cfg.title}\r\n"
                'Type "help()" for more information.\r\n').encode()

    def run_once(self, *, raw: bool, cause: int, reset: str, running: str) -> tuple[str, bool, str]:
        """One life of the board process: returns (how it ended, raw REPL active, running app)."""
        vb = self.vb
        env = runner.child_env(vb, mode="raw" if raw else "friendly", cause=cause, reset=reset, running=running)
        with contextlib.suppress(FileNotFoundError):
            vb.rtc.unlink()
        master, slave = _child_tty()
        wd = runner.Watchdog(vb, disarm=reset != "soft")
        proc = subprocess.Popen(runner.child_command(vb, interactive=True), env=env, stdin=slave, stdout=slave,
                                stderr=slave, start_new_session=True, preexec_fn=_child_setup)
        os.close(slave)
        wd.start(proc)
        self.boots += 1
        self._write_state("running")
        # Phases of one boot, from the child's output:
        #   init      the ROM's own start-up: user input is held (a Ctrl-C must
        #             not interrupt the "firmware"), output passed on;
        #   booting   boot.py / main.py: input and output pass through (in a
        #             raw-REPL restart, input stays held until the raw prompt,
        #             except Ctrl-C);
        #   swallow   the unix port's banner, replaced by the board's, up to
        #             the first prompt (where a raw restart sends Ctrl-A);
        #   repl      plain relay.
        phase = "init"
        pending = b""  # user input held back
        buf = b""
        raw_mode = raw
        while True:
            # Back-pressure: while held input is at its bound, leave the rest in
            # the pty (the host's writes block) instead of dropping any of it.
            watch = [master] if len(pending) >= _MAX_PENDING else [master, self.user_master]
            try:
                r, _, _ = select.select(watch, [], [], 0.05)
            except InterruptedError:
                r = []
            if self.stopping or self._orphaned():
                self.stopping = True
                break
            if self.user_master in r:
                try:
                    data = os.read(self.user_master, 4096)
                except OSError:
                    data = b""
                self._debug(f"user->[{phase}]", data)
                if data:
                    # Track the REPL mode from the control bytes the host sends.
                    for ch in data:
                        if ch == CTRL_A[0]:
                            raw_mode = True
                        elif ch == CTRL_B[0]:
                            raw_mode = False
                    if phase == "init":
                        pending += data
                    elif raw and phase != "repl":
                        # Raw-REPL restart: the rest waits for the raw prompt,
                        # but a Ctrl-C goes through now, to interrupt a boot.py
                        # that never returns, as it would on a board.
                        if b"\x03" in data:
                            with contextlib.suppress(OSError):
                                os.write(master, b"\x03")
                        pending += data.replace(b"\x03", b"")
                    else:
                        with contextlib.suppress(OSError):
                            os.write(master, data)
            if master in r:
                try:
                    out = os.read(master, 4096)
                except OSError:
                    out = b""
                if not out:
                    if proc.poll() is not None:
                        if phase != "swallow":  # what was held back as a possible marker start
                            self._to_user(buf.replace(INIT_DONE, b"").replace(SENTINEL, b""))
                        break
                    continue
                self._debug(f"board[{phase}]->", out)
                buf += out
                while buf:
                    if phase in ("init", "booting"):
                        marker = INIT_DONE if phase == "init" else SENTINEL
                        out, buf, found = split_at_marker(buf, marker)
                        self._to_user(out)
                        if not found:
                            break
                        if phase == "init":
                            phase = "booting"
                            if pending and not raw:
                                with contextlib.suppress(OSError):
                                    os.write(master, pending)
                                pending = b""
                            elif b"\x03" in pending:
                                # Raw restart: a Ctrl-C sent during start-up now
                                # reaches boot.py; the rest waits for the prompt.
                                with contextlib.suppress(OSError):
                                    os.write(master, b"\x03")
                                pending = pending.replace(b"\x03", b"")
                        else:
                            phase = "swallow"
                    elif phase == "swallow":
                        j = buf.find(PROMPT)
                        if j < 0:
                            break
                        buf = buf[j + len(PROMPT):]
                        phase = "repl"
                        if raw:
                            # Back into the raw REPL, as a board does after a soft
                            # reboot there -- unless the held input does it already
                            # (a second raw banner would desynchronise mpremote).
                            os.write(master, pending if CTRL_A in pending else CTRL_A + pending)
                            pending = b""
                        else:
                            self._to_user(self.banner() + PROMPT)
                    else:
                        self._to_user(buf)
                        buf = b""
            elif proc.poll() is not None:
                # Drain what is left (the last words of a board that reset
                # itself), then report how the board stopped.  Only the unix
                # banner is dropped; the ROM's markers never reach the host.
                with contextlib.suppress(OSError):
                    while select.select([master], [], [], 0.05)[0]:
                        tail = os.read(master, 4096)
                        if not tail:
                            break
                        buf += tail
                if phase != "swallow":
                    self._to_user(buf.replace(INIT_DONE, b"").replace(SENTINEL, b""))
                buf = b""
                break
        if self.stopping and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        wd.stop()
        os.close(master)
        rtc = runner.read_rtc(vb)
        ended = runner.classify(proc.returncode, watchdog_fired=wd.fired)
        if ended == runner.CRASH and proc.returncode > 0:
            # The unix REPL exits with n on sys.exit(n); a board soft-resets.
            ended = runner.SOFT_RESET_REQ
        self._debug(f"board ended: {ended} (status {proc.returncode}), raw={raw_mode}")
        return ended, raw_mode, str(rtc.get("running") or running)

    def serve(self) -> None:
        """Run the board until stopped, restarting it as a board restarts."""
        raw, cause, reset, running = False, runner.PWRON_RESET, "hard", ""
        family = self.vb.board.family
        while not self.stopping:
            ended, raw_active, running = self.run_once(raw=raw, cause=cause, reset=reset, running=running)
            if self.stopping:
                break
            if ended in (runner.EXIT, runner.SOFT_RESET_REQ):
                self._to_user(b"MPY: soft reboot\r\n")
                raw, reset = raw_active, "soft"
            elif ended == runner.HARD_RESET_REQ:
                raw, reset, cause = False, "hard", runner.MACHINE_RESET_CAUSE[family]
            elif ended == runner.WATCHDOG:
                raw, reset, cause = False, "hard", runner.WDT_RESET
            elif ended == runner.POWER_CUT:
                # The process was killed: power comes back, a cold boot.
                raw, reset, cause = False, "hard", runner.PWRON_RESET
                time.sleep(0.1)
            else:
                self._to_user(b"\r\nvboard: the interpreter crashed; resetting\r\n")
                raw, reset, cause = False, "hard", runner.HARD_RESET

    def stop(self, *_: Any) -> None:
        self.stopping = True

    def _orphaned(self) -> bool:
        """The board was removed, or the process that started us for a job died."""
        if not self.vb.image.exists():
            return True
        if self.owner_pid is None:
            return False
        try:
            os.kill(self.owner_pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False


def serve_forever(vb: VBoard, *, on_ready: Any = None, owner_pid: int | None = None) -> None:
    """Hold the board and serve it on a pty until SIGTERM/SIGINT (or until
    `owner_pid` exits, for a server started for one job such as a deploy)."""
    with vb.locked():
        server = Server(vb, owner_pid=owner_pid)
        signal.signal(signal.SIGTERM, server.stop)
        signal.signal(signal.SIGINT, server.stop)
        server._write_state("starting")
        if on_ready:
            on_ready(server.pty_path)
        try:
            server.serve()
        finally:
            with contextlib.suppress(FileNotFoundError):
                vb.state_file.unlink()


def start_background(vb: VBoard, *, timeout: float = 20.0, tied_to_caller: bool = False) -> str:
    """Start `serve_forever` in a detached process; return the pty path.

    With `tied_to_caller`, the server stops by itself when this process
    exits, so a job killed half-way (a deploy, a test) leaves no board running."""
    running = vb.state().get("pty")
    if running:
        return str(running)
    log = open(vb.log_file, "ab")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sbdtools.vboard.serial", vb.name,
             *([str(os.getpid())] if tied_to_caller else [])],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            env={**os.environ, "SBD_HOME": str(vb.dir.parent.parent)},
        )
    finally:
        log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = vb.state()
        if st.get("pty") and st.get("status") == "running":
            return str(st["pty"])
        if proc.poll() is not None:
            tail = vb.log_file.read_text(errors="replace")[-2000:]
            raise VBoardError(f"virtual board {vb.name!r} did not start:\n{tail}")
        time.sleep(0.05)
    proc.kill()
    raise VBoardError(f"virtual board {vb.name!r} did not come up within {timeout:g} s (see {vb.log_file})")


def stop_background(vb: VBoard, *, timeout: float = 10.0) -> bool:
    """Stop a board served in the background. False if it was not running."""
    st = vb.state()
    pid = st.get("pid")
    if not isinstance(pid, int):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and vb.state():
        time.sleep(0.05)
    if vb.state():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return True


def main() -> None:
    from . import store

    vb = store.get(sys.argv[1])
    owner = int(sys.argv[2]) if len(sys.argv) > 2 else None
    serve_forever(vb, on_ready=lambda p: print(f"vboard {vb.name}: serving on {p}", flush=True), owner_pid=owner)


if __name__ == "__main__":
    main()
