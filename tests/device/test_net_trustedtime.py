# sbd.trustedtime: the newest trusted time seen never goes back, a bad input
# changes nothing, HTTP dates are parsed strictly, the floor holds, and a
# damaged file reads as absent.  (A verified HTTPS server's Date header moving
# it: tests/vboard/test_telemetry_trustedtime.py.)
import os

from dtest import eq, raises, scratch_path
from sbd import _fs
from sbd import trustedtime as tt


def _fresh():
    _fs.STATE_DIR = scratch_path("ttstate")
    try:
        os.remove(_fs.STATE_DIR + "/" + tt.NAME)
    except OSError:
        pass


def _file():
    with open(_fs.STATE_DIR + "/" + tt.NAME, "rb") as f:
        return f.read()


def test_never_goes_back():
    _fresh()
    eq(tt.newest(), tt.FLOOR, "nothing seen: the floor")
    eq(tt.advance("2027-03-04T05:06:07Z"), "2027-03-04T05:06:07Z", "forward")
    eq(tt.advance("2027-03-04T05:06:06Z"), "2027-03-04T05:06:07Z", "a second back: kept")
    eq(tt.advance("2026-12-31T23:59:59Z"), "2027-03-04T05:06:07Z", "older: kept")
    eq(tt.newest(), "2027-03-04T05:06:07Z", "newest")
    eq(tt.advance("2030-01-01T00:00:00Z"), "2030-01-01T00:00:00Z", "forward again")
    eq(_file(), b"2030-01-01T00:00:00Z", "persisted")
    eq(tt.advance("2020-01-01T00:00:00Z"), "2030-01-01T00:00:00Z", "never back")
    eq(_file(), b"2030-01-01T00:00:00Z", "file unchanged")


def test_below_the_floor_is_never_reported():
    _fresh()
    eq(tt.advance("2021-06-01T00:00:00Z"), tt.FLOOR, "older than the SDK: the floor")
    eq(tt.newest(), tt.FLOOR, "floor")


def test_bad_inputs_change_nothing():
    _fresh()
    tt.advance("2028-02-29T12:00:00Z")  # a leap day
    for bad in (
        "2028-02-30T12:00:00Z",  # no such day
        "2029-02-29T12:00:00Z",  # not a leap year
        "2100-02-29T00:00:00Z",  # 2100 is not a leap year
        "2028-13-01T00:00:00Z",
        "2028-00-10T00:00:00Z",
        "2028-01-01T24:00:00Z",
        "2028-01-01T00:60:00Z",
        "2028-01-01T00:00:61Z",
        "2200-01-01T00:00:00Z",  # past the supported years
        "2019-12-31T23:59:59Z",
        "2028-01-01 00:00:00Z",
        "2028-01-01T00:00:00",
        "2028-01-01T00:00:00+00:00",
        "+028-01-01T00:00:00Z",
        "2028-0a-01T00:00:00Z",
        "",
        None,
        20280101,
        b"2029-01-01T00:00:00Z",
    ):
        e = raises(ValueError, tt.advance, bad)
        eq(str(e), "not a time", "no echo of the input")
    eq(tt.newest(), "2028-02-29T12:00:00Z", "unchanged")
    eq(tt.advance("2028-02-29T12:00:60Z"), "2028-02-29T12:00:60Z", "a leap second is a time")


def test_http_dates():
    eq(tt.from_http_date("Tue, 15 Nov 2033 08:12:31 GMT"), "2033-11-15T08:12:31Z", "IMF-fixdate")
    eq(tt.from_http_date(b"Wed, 01 Dec 2027 00:00:00 GMT"), "2027-12-01T00:00:00Z", "bytes")
    for bad in (
        "Sun, 06 Nov 1994 08:49:37 GMT",  # before the supported years
        "Sunday, 06-Nov-94 08:49:37 GMT",  # RFC 850: obsolete
        "Sun Nov  6 08:49:37 2034",  # asctime: obsolete
        "Tue, 15 Nov 2033 08:12:31 UTC",
        "Tue, 15 Nox 2033 08:12:31 GMT",
        "Tue, 15 anF 2033 08:12:31 GMT",
        "Xyz, 15 Nov 2033 08:12:31 GMT",
        "Tue, 31 Nov 2033 08:12:31 GMT",
        "Tue,  5 Nov 2033 08:12:31 GMT",
        "Tue, 15 Nov 2033 08:12:31 GMT ",
        b"\xff\xfe, 15 Nov 2033 08:12:31 GMT",
        "",
    ):
        raises(ValueError, tt.from_http_date, bad)
    _fresh()
    eq(tt.advance_http_date("Tue, 15 Nov 2033 08:12:31 GMT"), "2033-11-15T08:12:31Z", "advanced")
    raises(ValueError, tt.advance_http_date, "Tue, 15 Nov 2034 08:12:31 UTC")
    eq(tt.newest(), "2033-11-15T08:12:31Z", "unchanged by a bad date")


def test_a_damaged_file_reads_as_absent():
    _fresh()
    tt.advance("2031-01-01T00:00:00Z")
    for junk in (b"", b"2031-01-01T00:00:00", b"2031-01-01T00:00:00Zx", b"2031-01-01T00:00:0\xffZ", b"9" * 20):
        with open(_fs.STATE_DIR + "/" + tt.NAME, "wb") as f:
            f.write(junk)
        eq(tt.newest(), tt.FLOOR, "damaged reads as absent")
    eq(tt.advance("2029-01-01T00:00:00Z"), "2029-01-01T00:00:00Z", "and a new time is taken")
