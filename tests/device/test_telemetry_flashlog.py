# sbd.flashlog: the bounded log on flash as telemetry's sink.  Records read
# back in order, the bound holds however much is written, only the chosen
# events are kept, a repeat offered by pump() is written once, a torn tail
# reads as the end and the next append starts a fresh segment, and send()
# never raises into telemetry (a filesystem error is counted).
# (Power cuts on real littlefs: tests/vboard/test_telemetry_flashlog.py.)
import os

from dtest import eq, raises, scratch_path, true
from sbd import flashlog, telemetry


def _fresh(name):
    path = scratch_path(name)
    flashlog.clear(path)
    return path


def _ev(i, name="auth.failure"):
    return ('{"v": 1, "seq": %d, "t_ms": 0, "ev": "%s", "f": {"count": %d}}' % (i, name, i)).encode()


def _size(path):
    n = 0
    for s in (".0", ".1"):
        try:
            n += os.stat(path + s)[6]
        except OSError:
            pass
    return n


def test_records_read_back_in_order_within_the_bound():
    path = _fresh("flog1")
    log = flashlog.FlashLog(path, seg_bytes=256)
    written = []
    for i in range(60):
        p = _ev(i)
        true(log.send(p), "taken")
        written.append(p)
        got = flashlog.read(path)
        true(_size(path) <= 2 * 256, "bound")
        eq(got, written[len(written) - len(got) :], "the newest records, in order")
        true(len(got) >= 1, "not empty")
    eq(log.written, 60, "written")
    true(len(flashlog.read(path)) < 60, "old records went")
    # a new FlashLog (a reboot) appends after what is there
    log2 = flashlog.FlashLog(path, seg_bytes=256)
    log2.send(_ev(60))
    got = flashlog.read(path)
    eq(got[-2:], [_ev(59), _ev(60)], "continues")


def test_only_the_chosen_events_are_kept_and_repeats_once():
    path = _fresh("flog2")
    log = flashlog.FlashLog(path)
    log.send(_ev(1, "sys.metrics"))
    log.send(_ev(2, "auth.lockout"))
    log.send(_ev(2, "auth.lockout"))  # pump() offering it again
    log.send(_ev(3, "security.alert"))
    log.send(_ev(4, "app.temp"))
    eq(flashlog.read(path), [_ev(2, "auth.lockout"), _ev(3, "security.alert")], "security events, once each")
    eq(log.skipped, 2, "skipped")
    everything = flashlog.FlashLog(_fresh("flog3"), events=None)
    everything.send(_ev(1, "sys.metrics"))
    eq(len(flashlog.read(everything.path)), 1, "events=None keeps all")
    big = flashlog.FlashLog(_fresh("flog4"), seg_bytes=256)
    big.send(_ev(1) + b" " * 300)
    eq(flashlog.read(big.path), [], "a record larger than a segment is skipped")
    eq(big.skipped, 1, "and counted")
    raises(ValueError, flashlog.FlashLog, path, 100)
    raises(ValueError, flashlog.FlashLog, path, True)


def test_a_torn_or_garbled_tail_reads_as_the_end():
    path = _fresh("flog5")
    log = flashlog.FlashLog(path, seg_bytes=1024)
    for i in range(3):
        log.send(_ev(i))
    with open(path + ".1", "rb") as f:
        good = f.read()
    for cut in range(len(good)):
        with open(path + ".1", "wb") as f:
            f.write(good[:cut])
        got = flashlog.read(path)
        eq(got, [_ev(i) for i in range(len(got))], "a prefix at cut %d" % cut)
    bad = bytearray(good)
    bad[-1] ^= 1  # the last record's check value
    with open(path + ".1", "wb") as f:
        f.write(bad)
    eq(flashlog.read(path), [_ev(0), _ev(1)], "a bad check ends the segment")
    # the next boot's first append starts a new segment after the torn one
    log2 = flashlog.FlashLog(path, seg_bytes=1024)
    log2.send(_ev(9))
    eq(flashlog.read(path), [_ev(0), _ev(1), _ev(9)], "nothing after garbage is lost")


def test_as_a_telemetry_sink_it_never_blocks():
    path = _fresh("flog6")
    telemetry.configure(slots=8)
    log = flashlog.FlashLog(path)
    broken = flashlog.FlashLog(path + ".1/x")  # its folder is a file: every write fails
    telemetry.add_sink(log)
    try:
        telemetry.record("auth.failure", 1)
        telemetry.record("sys.metrics", 1, 2, "power_on", 0)
        telemetry.record("auth.lockout", 3, 1000)
        eq(telemetry.pump(), 3, "all taken")
        got = flashlog.read(path)
        eq(len(got), 2, "two security events kept")
        true(b'"ev": "auth.failure"' in got[0] and b'"ev": "auth.lockout"' in got[1], "in order")
        # a filesystem error (the folder is a file) is counted, not raised
        telemetry.add_sink(broken)
        telemetry.record("auth.failure", 2)
        eq(telemetry.pump(), 1, "taken")
        eq(broken.errors, 1, "counted")
    finally:
        telemetry.remove_sink(log)
        telemetry.remove_sink(broken)
