# sbd.board: one view of the hardware whatever the port.
from dtest import eq, raises
from fakeboard import FAKE
from sbd import board


def test_family_off_board_is_host():
    # The plain unix port and CPython are not boards; the virtual board
    # reports esp32 / rp2 (tests/vboard/test_sdk_board.py).
    eq(board.FAMILY, "host")


def test_unique_id():
    FAKE.uid = b"\x01\x02\x03\x04\x05\x06"
    eq(board.unique_id(), b"\x01\x02\x03\x04\x05\x06")
    FAKE.uid = b""
    raises(board.BoardError, board.unique_id)
    FAKE.uid = b"\x10\x32\x54\x76\x98\xba\xdc\xfe"


def test_reset_cause_names():
    for cause, name in ((1, "power_on"), (2, "hard"), (3, "watchdog"), (4, "deep_sleep"), (5, "soft"), (99, "unknown")):
        FAKE.cause = cause
        eq(board.reset_cause(), name)
    FAKE.cause = 1


def test_reset_cause_on_a_port_with_fewer_constants():
    # The rp2 port defines only PWRON_RESET and WDT_RESET: a constant a port
    # lacks is never matched (getattr on the class attribute fails there).
    saved = FakeAttrs.drop()
    try:
        FAKE.cause = 2
        eq(board.reset_cause(), "unknown")
        FAKE.cause = 3
        eq(board.reset_cause(), "watchdog")
    finally:
        FakeAttrs.restore(saved)
        FAKE.cause = 1


class FakeAttrs:
    @staticmethod
    def drop():
        cls = type(FAKE)
        saved = {}
        for k in ("HARD_RESET", "DEEPSLEEP_RESET", "SOFT_RESET"):
            saved[k] = getattr(cls, k)
            delattr(cls, k)
        return saved

    @staticmethod
    def restore(saved):
        cls = type(FAKE)
        for k in saved:
            setattr(cls, k, saved[k])


def test_watchdog_arguments():
    del FAKE.wdt[:]
    board.watchdog(5000).feed()
    eq(FAKE.wdt, [(0, 5000)])
    for bad in (0, -1, 1.5, True, "100"):
        raises(ValueError, board.watchdog, bad)


def test_no_monotonic_counter_on_any_board_yet():
    eq(board.monotonic_counter(), None)
