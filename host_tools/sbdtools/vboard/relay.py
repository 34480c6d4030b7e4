"""The pty relay's phases for one life of a board process, without any IO.

``serial.Server.run_once`` feeds it what the user (mpremote, a terminal) and
the board process write, and carries out what it returns: bytes for the board
and bytes for the user.  Unit tests drive it directly (tests/vboard/test_relay.py).

Phases of one boot, from the board's output:

* ``INIT``     the ROM's own start-up: user input is held (a Ctrl-C must not
  interrupt the "firmware"), output passed on, up to the ROM's INIT marker;
* ``BOOTING``  _boot.py / boot.py / main.py: input and output pass through
  (in a raw-REPL restart, input stays held until the raw prompt, except
  Ctrl-C), up to the READY marker;
* ``SWALLOW``  the unix port's banner, replaced by the board's, up to the
  first prompt (where a raw restart sends Ctrl-A to re-enter the raw REPL);
* ``REPL``     plain relay.

The markers never reach the user.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import protocol as P

INIT = "init"
BOOTING = "booting"
SWALLOW = "swallow"
REPL = "repl"

PROMPT = b">>> "
CTRL_A, CTRL_B, CTRL_C = b"\x01", b"\x02", b"\x03"
MAX_PENDING = 1 << 20  # bytes of user input held while the board starts


def split_at_marker(buf: bytes, marker: bytes) -> tuple[bytes, bytes, bool]:
    """(bytes to pass on, bytes to keep, marker found).

    When found, the kept bytes are what follows the marker.  When not, only
    a tail that could be the start of the marker is kept back, so ordinary
    output (a prompt, a partial line) is never held up waiting for more."""
    i = buf.find(marker)
    if i >= 0:
        return buf[:i], buf[i + len(marker) :], True
    # The earliest place in the tail where the marker could be starting (a
    # marker may contain its own first byte again, as ours do: \x00...\x00).
    j = buf.find(marker[:1], max(0, len(buf) - len(marker) + 1))
    while j >= 0:
        if marker.startswith(buf[j:]):
            return buf[:j], buf[j:], False
        j = buf.find(marker[:1], j + 1)
    return buf, b"", False


@dataclass
class Out:
    to_board: bytes = b""
    to_user: bytes = b""


class Relay:
    """One boot's relay state.  `raw`: this boot follows a soft reset in the
    raw REPL, which the board re-enters; `banner`: what the user sees in
    place of the unix port's banner."""

    def __init__(self, *, raw: bool, banner: bytes) -> None:
        self.raw = raw
        self.banner = banner
        self.phase = INIT
        self.pending = b""  # user input held back
        self.buf = b""  # board output not yet passed on
        self.raw_mode = raw  # the REPL mode the host last asked for (Ctrl-A / Ctrl-B)

    def wants_input(self) -> bool:
        """False while held input is at its bound: leave the rest in the pty
        (the host's writes block) instead of dropping any of it."""
        return len(self.pending) < MAX_PENDING

    def from_user(self, data: bytes) -> Out:
        for ch in data:
            if ch == CTRL_A[0]:
                self.raw_mode = True
            elif ch == CTRL_B[0]:
                self.raw_mode = False
        if self.phase == INIT:
            self.pending += data
            return Out()
        if self.raw and self.phase != REPL:
            # Raw-REPL restart: the rest waits for the raw prompt, but a
            # Ctrl-C goes through now, to interrupt a boot.py that never
            # returns, as it would on a board.
            self.pending += data.replace(CTRL_C, b"")
            return Out(to_board=CTRL_C if CTRL_C in data else b"")
        return Out(to_board=data)

    def from_board(self, data: bytes) -> Out:
        out = Out()
        self.buf += data
        while self.buf:
            if self.phase in (INIT, BOOTING):
                marker = P.INIT_MARK if self.phase == INIT else P.READY_MARK
                passed, self.buf, found = split_at_marker(self.buf, marker)
                out.to_user += passed
                if not found:
                    break
                if self.phase == INIT:
                    self.phase = BOOTING
                    if self.pending and not self.raw:
                        out.to_board += self.pending
                        self.pending = b""
                    elif CTRL_C in self.pending:
                        # Raw restart: a Ctrl-C sent during start-up now
                        # reaches boot.py; the rest waits for the prompt.
                        out.to_board += CTRL_C
                        self.pending = self.pending.replace(CTRL_C, b"")
                else:
                    self.phase = SWALLOW
            elif self.phase == SWALLOW:
                j = self.buf.find(PROMPT)
                if j < 0:
                    break
                self.buf = self.buf[j + len(PROMPT) :]
                self.phase = REPL
                if self.raw:
                    # Back into the raw REPL, as a board does after a soft
                    # reboot there -- unless the held input does it already
                    # (a second raw banner would desynchronise mpremote).
                    out.to_board += self.pending if CTRL_A in self.pending else CTRL_A + self.pending
                    self.pending = b""
                else:
                    out.to_user += self.banner + PROMPT
            else:
                out.to_user += self.buf
                self.buf = b""
        return out

    def board_ended(self, tail: bytes = b"") -> Out:
        """The board process is gone: pass on its last words (what was held
        back as a possible marker start, and `tail`), without the markers,
        and dropping the unix banner if it was being swallowed."""
        self.buf += tail
        rest = b"" if self.phase == SWALLOW else self.buf.replace(P.INIT_MARK, b"").replace(P.READY_MARK, b"")
        self.buf = b""
        return Out(to_user=rest)
