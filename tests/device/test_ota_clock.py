# sbd.ota judges expiry by the SDK's one trusted clock, sbd.trustedtime
# (review finding 3): a time taken there (a verified server's Date, a time
# the caller vouches for) binds every later refresh, a `now` given to one
# refresh is never stored, and a board that kept sbd.ota's own clock
# (/.sbd/state/ota/clock, before this) does not go back in time.
# sbd-device: heapsize=128K timeout=300
import gc
import os

from dtest import data_path, eq, raises, scratch_path, true
from sbd import _fs, ota
from sbd import trustedtime as tt
from sbd.ota import client

NOW = "2026-11-30T00:00:00Z"
BASE = "ota/valid_updates"
EXPIRES = "2099-01-01T00:00:00Z"  # every role of the test repository
AFTER = "2099-01-01T00:00:01Z"


def _fresh(name):
    _fs.STATE_DIR = scratch_path("ota-clock-" + name)
    _fs.remove_tree(_fs.STATE_DIR)
    gc.collect()


def _root():
    with open(data_path(BASE + "/root.json"), "rb") as f:
        return f.read()


def _refresh(now):
    return client.refresh(client.DirFetcher(data_path(BASE + "/1/metadata")), now, _root())


def _legacy(data):
    _fs.makedirs(client.state_dir())
    with open(client.state_dir() + "/clock", "wb") as f:
        f.write(data)


def _legacy_gone():
    try:
        os.stat(client.state_dir() + "/clock")
    except OSError:
        return True
    return False


def test_the_trusted_clock_is_trustedtime():
    _fresh("one")
    eq(client.newest_time(), tt.FLOOR, "nothing seen: trustedtime's floor, no error")
    tt.advance("2030-01-01T00:00:00Z")  # e.g. a verified HTTPS server's Date
    eq(client.newest_time(), "2030-01-01T00:00:00Z", "what trustedtime saw")
    eq(client.newest_time("2031-02-03T04:05:06Z"), "2031-02-03T04:05:06Z", "a vouched time")
    eq(tt.newest(), "2031-02-03T04:05:06Z", "went into the one clock")
    eq(client.newest_time("2027-01-01T00:00:00Z"), "2031-02-03T04:05:06Z", "older: nothing back")
    eq(tt.newest(), "2031-02-03T04:05:06Z", "unchanged")


def test_refresh_judges_expiry_by_trustedtime():
    _fresh("expired")
    tt.advance(AFTER)  # the one clock is past the metadata's expiry
    e = raises(ota.Expired, _refresh, NOW)  # an older now does not pull it back
    true(EXPIRES in str(e), "names the expiry")
    raises(ota.Expired, _refresh, None)
    _fresh("valid")
    tt.advance("2098-12-31T23:59:59Z")
    t = _refresh(None)
    eq(t.now, "2098-12-31T23:59:59Z", "judged at the clock")
    t = _refresh(NOW)
    eq(t.now, "2098-12-31T23:59:59Z", "the later of now and the clock")


def test_a_now_given_to_refresh_is_judged_by_not_stored():
    _fresh("notstored")
    raises(ota.Expired, _refresh, AFTER)
    eq(tt.newest(), tt.FLOOR, "a refresh's now moves no clock")
    t = _refresh("2027-06-01T00:00:00Z")
    eq(t.now, "2027-06-01T00:00:00Z", "later than the clock: judged by it")
    eq(tt.newest(), tt.FLOOR, "still not stored")
    raises(ValueError, _refresh, "2027-06-01 00:00:00Z")


def test_the_old_ota_clock_is_folded_in_and_never_goes_back():
    _fresh("mig")
    _legacy(AFTER.encode())  # a board updated from an SDK that kept its own clock
    raises(ota.Expired, _refresh, NOW)  # judged by the old clock's time
    eq(tt.newest(), AFTER, "moved into trustedtime")
    true(_legacy_gone(), "the old file is removed")
    eq(client.newest_time(), AFTER, "and stays there")
    _fresh("mig-older")
    tt.advance("2040-01-01T00:00:00Z")
    _legacy(b"2030-01-01T00:00:00Z")
    eq(client.newest_time(), "2040-01-01T00:00:00Z", "an older old clock moves nothing back")
    true(_legacy_gone(), "removed")
    _fresh("mig-cut")
    tt.advance("2035-01-01T00:00:00Z")
    _legacy(b"2035-01-01T00:00:00Z")  # a cut after the advance, before the remove
    eq(client.newest_time(), "2035-01-01T00:00:00Z")
    true(_legacy_gone(), "removed the next time")


def test_an_old_clock_trustedtime_cannot_hold_rounds_forward():
    for old, want in (
        (b"2300-01-01T00:00:00Z", tt.LAST),  # past trustedtime's years
        (b"2030-02-30T00:00:00Z", "2031-01-01T00:00:00Z"),  # no such day
        (b"2010-01-01T00:00:00Z", tt.FLOOR),  # before the floor anyway
        (b"2030-01-01", tt.FLOOR),  # damaged: as absent
        (b"2030-01-01T00:00:00Z\n", tt.FLOOR),  # too long: as absent
        (b"\xff" * 20, tt.FLOOR),
    ):
        _fresh("round")
        _legacy(old)
        eq(client.newest_time(), want, repr(old))
        true(_legacy_gone(), "removed")


def test_the_clock_a_refresh_reads_is_trustedtimes():
    # A refresh reads sbd.trustedtime's file itself (its code would not fit
    # the refresh's heap): it must read what trustedtime.newest() reads.
    eq((client._FLOOR, client._LAST), (tt.FLOOR, tt.LAST), "the same bounds")
    for data in (
        None,
        b"2030-01-01T00:00:00Z",
        b"2026-11-01T00:00:00Z",
        b"2021-01-01T00:00:00Z",  # before the floor
        b"2199-12-31T23:59:59Z",
        b"2200-01-01T00:00:00Z",  # past the years trustedtime holds
        b"2030-01-01",
        b"2030-01-01T00:00:00Z\n",
        b"2030/01/01T00:00:00Z",
        b"\xff" * 20,
        b"",
    ):
        _fresh("read")
        if data is not None:
            _fs.makedirs(_fs.STATE_DIR)
            with open(_fs.STATE_DIR + "/" + tt.NAME, "wb") as f:
                f.write(data)
        eq(client._judge_time(None), tt.newest(), repr(data))
        eq(client.newest_time(), tt.newest(), repr(data))
