"""The pty relay's phases (relay.Relay), driven without a pty or a board."""

from __future__ import annotations

from sbdtools.vboard import protocol as P
from sbdtools.vboard import relay

BANNER = b"MicroPython on sbd virtual board t\r\n"
UNIX_BANNER = b"MicroPython 9458e3a23f on 2026-07-05; linux [GCC] version\r\nUse Ctrl-D to exit\r\n>>> "


def test_the_markers_are_the_roms() -> None:
    from sbdtools.vboard.device import vb_proto

    assert P.INIT_MARK == vb_proto.INIT_MARK.encode() + b"\n"
    assert P.READY_MARK == vb_proto.READY_MARK.encode() + b"\n"


def test_friendly_boot_holds_input_until_init_and_swaps_the_banner() -> None:
    r = relay.Relay(raw=False, banner=BANNER)
    assert r.from_user(b"\x03\x03print(1)\r") == relay.Out(), "held during the firmware's start-up"
    out = r.from_board(b"Performing initial setup\n" + P.INIT_MARK)
    assert out.to_user == b"Performing initial setup\n"
    assert out.to_board == b"\x03\x03print(1)\r", "released to boot.py/main.py once INIT is seen"
    assert r.phase == relay.BOOTING
    out = r.from_board(b"main says hi\n" + P.READY_MARK + UNIX_BANNER)
    assert out.to_user == b"main says hi\n" + BANNER + relay.PROMPT
    assert r.phase == relay.REPL
    assert r.from_user(b"x") == relay.Out(to_board=b"x")
    assert r.from_board(b"y") == relay.Out(to_user=b"y")


def test_markers_split_across_reads_never_reach_the_user() -> None:
    r = relay.Relay(raw=False, banner=BANNER)
    seen = b""
    stream = b"a" + P.INIT_MARK + b"b" + P.READY_MARK + UNIX_BANNER + b"c"
    for i in range(len(stream)):
        seen += r.from_board(stream[i : i + 1]).to_user
    assert seen == b"ab" + BANNER + relay.PROMPT + b"c"


def test_raw_restart_reenters_the_raw_repl_and_lets_only_ctrl_c_through() -> None:
    r = relay.Relay(raw=True, banner=BANNER)
    assert r.from_user(b"\x03abc") == relay.Out()
    out = r.from_board(P.INIT_MARK)
    assert out.to_board == b"\x03", "a Ctrl-C sent during start-up reaches boot.py"
    assert r.from_user(b"\x03def") == relay.Out(to_board=b"\x03")
    out = r.from_board(P.READY_MARK + UNIX_BANNER)
    assert out.to_user == b"", "no friendly banner in a raw restart"
    assert out.to_board == b"\x01abcdef", "Ctrl-A, then the held input"
    assert r.phase == relay.REPL


def test_raw_restart_does_not_send_a_second_ctrl_a() -> None:
    r = relay.Relay(raw=True, banner=BANNER)
    r.from_board(P.INIT_MARK)
    r.from_user(b"\x01exec")
    assert r.from_board(P.READY_MARK + UNIX_BANNER).to_board == b"\x01exec"


def test_repl_mode_follows_the_hosts_control_bytes() -> None:
    r = relay.Relay(raw=False, banner=BANNER)
    r.from_user(b"\x01")
    assert r.raw_mode
    r.from_user(b"x\x02")
    assert not r.raw_mode


def test_input_is_bounded_while_held() -> None:
    r = relay.Relay(raw=False, banner=BANNER)
    r.from_user(b"x" * (relay.MAX_PENDING - 1))
    assert r.wants_input()
    r.from_user(b"x")
    assert not r.wants_input()


def test_last_words_of_a_board_are_passed_on_without_markers() -> None:
    r = relay.Relay(raw=False, banner=BANNER)
    assert r.from_board(P.INIT_MARK + b"resetting\x00SBD").to_user == b"resetting"  # "\x00SBD" may start a marker
    assert r.board_ended(b"VB-READY\x00\nbye").to_user == b"bye"
    r2 = relay.Relay(raw=False, banner=BANNER)
    r2.from_board(P.INIT_MARK + b"abort()\x00SB")
    assert r2.board_ended(b"").to_user == b"\x00SB"
    r3 = relay.Relay(raw=False, banner=BANNER)
    r3.from_board(P.INIT_MARK + P.READY_MARK + b"MicroPython unix banner")
    assert r3.board_ended(b"more").to_user == b"", "the unix banner is dropped"
