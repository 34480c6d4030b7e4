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
from . import protocol as P
from . import relay, runner
from .store import VBoard

# Re-exported for callers and tests that knew them here.
INIT_DONE = P.INIT_MARK
SENTINEL = P.READY_MARK
PROMPT = relay.PROMPT
split_at_marker = relay.split_at_marker
_DEBUG = os.environ.get("SBD_VB_DEBUG") == "1"


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
        return (
            f"MicroPython (unix port) on sbd virtual board {self.vb.name}; {cfg.title}\r\n"
            'Type "help()" for more information.\r\n'
        ).encode()

    def run_once(self, *, raw: bool, cause: int, reset: str, running: str) -> tuple[str, bool, str]:
        """One life of the board process: returns (how it ended, raw REPL active, running app).

        The phases live in relay.Relay (no IO); this loop only moves bytes
        between the two ptys and carries out what the relay says."""
        vb = self.vb
        env = runner.child_env(
            vb, mode=P.MODE_RAW if raw else P.MODE_FRIENDLY, cause=cause, reset=reset, running=running
        )
        with contextlib.suppress(FileNotFoundError):
            vb.rtc.unlink()
        master, slave = _child_tty()
        wd = runner.Watchdog(vb, disarm=reset != P.RESET_SOFT)
        proc = subprocess.Popen(
            runner.child_command(vb, interactive=True),
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=_child_setup,
        )
        os.close(slave)
        wd.start(proc)
        self.boots += 1
        self._write_state("running")
        rl = relay.Relay(raw=raw, banner=self.banner())

        def carry(out: relay.Out) -> None:
            if out.to_board:
                with contextlib.suppress(OSError):
                    os.write(master, out.to_board)
            self._to_user(out.to_user)

        while True:
            watch = [master, self.user_master] if rl.wants_input() else [master]
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
                self._debug(f"user->[{rl.phase}]", data)
                if data:
                    carry(rl.from_user(data))
            if master in r:
                try:
                    out = os.read(master, 4096)
                except OSError:
                    out = b""
                if not out:
                    if proc.poll() is not None:
                        carry(rl.board_ended())
                        break
                    continue
                self._debug(f"board[{rl.phase}]->", out)
                carry(rl.from_board(out))
            elif proc.poll() is not None:
                # Drain what is left (the last words of a board that reset
                # itself), then report how the board stopped.
                tail = b""
                with contextlib.suppress(OSError):
                    while select.select([master], [], [], 0.05)[0]:
                        chunk = os.read(master, 4096)
                        if not chunk:
                            break
                        tail += chunk
                carry(rl.board_ended(tail))
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
        self._debug(f"board ended: {ended} (status {proc.returncode}), raw={rl.raw_mode}")
        return ended, rl.raw_mode, str(rtc.get(P.RTC_RUNNING) or running)

    def serve(self) -> None:
        """Run the board until stopped, restarting it as a board restarts."""
        raw, cause, reset, running = False, runner.PWRON_RESET, P.RESET_HARD, ""
        family = self.vb.board.family
        while not self.stopping:
            ended, raw_active, running = self.run_once(raw=raw, cause=cause, reset=reset, running=running)
            if self.stopping:
                break
            if ended in (runner.EXIT, runner.SOFT_RESET_REQ):
                self._to_user(b"MPY: soft reboot\r\n")
                raw, reset = raw_active, P.RESET_SOFT
            elif ended == runner.HARD_RESET_REQ:
                raw, reset, cause = False, P.RESET_HARD, runner.MACHINE_RESET_CAUSE[family]
            elif ended == runner.WATCHDOG:
                raw, reset, cause = False, P.RESET_HARD, runner.WDT_RESET
            elif ended == runner.POWER_CUT:
                # The process was killed: power comes back, a cold boot.
                raw, reset, cause = False, P.RESET_HARD, runner.PWRON_RESET
                time.sleep(0.1)
            else:
                self._to_user(b"\r\nvboard: the interpreter crashed; resetting\r\n")
                raw, reset, cause = False, P.RESET_HARD, runner.CRASH_RESET_CAUSE[family]

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
            [sys.executable, "-m", "sbdtools.vboard.serial", vb.name, *([str(os.getpid())] if tied_to_caller else [])],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
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
    # Wait for the lock, not the state file: the server deletes its state
    # file before it lets go of the lock, and a caller that goes on to hold
    # the board itself (a station's next step) must not find it "in use".
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not vb.lock_is_free():
        time.sleep(0.05)
    if not vb.lock_is_free():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not vb.lock_is_free():
            time.sleep(0.05)
    return True


def main() -> None:
    from . import store

    vb = store.get(sys.argv[1])
    owner = int(sys.argv[2]) if len(sys.argv) > 2 else None
    serve_forever(vb, on_ready=lambda p: print(f"vboard {vb.name}: serving on {p}", flush=True), owner_pid=owner)


if __name__ == "__main__":
    main()
