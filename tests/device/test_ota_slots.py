# A/B app slots: install into the slot not booted, trial boot, confirm,
# automatic rollback, a damaged slot falls back, anti-rollback.
# sbd-device: heapsize=160K timeout=300
# (at 128K a later test ran out importing sbd.ota.download with 40K free after
# unwinding: fragmentation in this many-refresh process; test_ota_heap.py
# holds the update path's own budget, 112K.)

from dtest import data_path, eq, raises, true
from ota_slot_util import BASE, B, P, app, fresh
from sbd import boot, ota
from sbd.ota import client, slots
from sbd.ota import release as rl


def _fresh(name):
    return fresh("slots", name)


def _install(t, n, targets=BASE + "/1/targets"):
    return slots.install(t, rl.release(t, P, B, n), client.DirFetcher(data_path(targets)))


def test_install_boots_on_trial_and_confirm_keeps_it():
    t = _fresh("confirm")
    eq(boot.select(), None, "nothing installed: safe mode")
    eq(_install(t, 1), "a")
    eq(boot.installed(), (1, 0))
    d = boot.select()
    eq(app(d), b"M\x06print('release 1')\n")
    eq(boot.read_pointer()["trial"], boot.TRIAL_BOOTS - 1)
    true(boot.confirm(), "confirmed")
    for _ in range(boot.TRIAL_BOOTS + 2):
        eq(boot.select(), d, "a confirmed release stays")


def test_an_unconfirmed_release_rolls_back_by_itself():
    t = _fresh("rollback")
    _install(t, 1)
    boot.select()
    boot.confirm()
    eq(_install(t, 2), "b")
    for _ in range(boot.TRIAL_BOOTS):
        eq(app(boot.select()), b"M\x06print('release 2')\n")
    d = boot.select()  # no trial boots left, never confirmed
    eq(app(d), b"M\x06print('release 1')\n")
    eq(boot.installed(), (1, 0))
    eq(boot.read_pointer()["prev"], None)
    # Release 2 never confirmed itself: it is never installed again.
    eq(boot.failed(), 2)
    e = raises(ota.Rollback, _install, t, 2)
    true("failed release" in str(e), str(e))
    eq(boot.installed(), (1, 0))


def test_older_and_same_releases_are_refused():
    t = _fresh("anti")
    _install(t, 2)
    e = raises(boot.SlotError, _install, t, 2)
    true("trial" in str(e), "one install at a time")
    boot.confirm()
    before = boot.read_pointer()
    raises(ota.Rollback, _install, t, 1)
    raises(ota.Rollback, _install, t, 2)
    eq(boot.read_pointer(), before, "pointer unchanged")


def test_a_tampered_download_leaves_the_running_release():
    t = _fresh("tamper")
    _install(t, 1)
    boot.select()
    boot.confirm()
    before = boot.read_pointer()
    raises(ota.Mismatch, _install, t, 2, "ota/tampered_target/1/targets")
    eq(boot.read_pointer(), before)
    eq(app(boot.select()), b"M\x06print('release 1')\n")


def test_a_damaged_slot_falls_back_or_goes_to_safe_mode():
    t = _fresh("damage")
    _install(t, 1)
    boot.select()
    boot.confirm()
    _install(t, 2)
    d = boot.select()
    with open(d + "/lib/util.mpy", "ab") as f:
        f.write(b"#")
    d2 = boot.select()
    eq(app(d2), b"M\x06print('release 1')\n", "fell back to release 1")
    with open(d2 + "/app.mpy", "wb") as f:
        f.write(b"M\x06print('release 9')\n")
    eq(boot.select(), None, "nothing left that checks out: safe mode")


def test_a_damaged_pointer_is_safe_mode():
    t = _fresh("pointer")
    _install(t, 1)
    for bad in (b"", b"{", b'{"slot":"../x"}', b"[]", b"x" * 600):
        with open(boot.APP_DIR + "/pointer", "wb") as f:
            f.write(bad)
        eq(boot.read_pointer(), None, repr(bad[:10]))
        eq(boot.select(), None)


class _Cut:
    """A fetcher whose first `cuts` files stop after 10 bytes (a dropped
    connection); records the offsets it was asked for."""

    def __init__(self, base, cuts):
        self.f = client.DirFetcher(data_path(base))
        self.cuts = cuts
        self.asked = []

    def open(self, name, offset=0):
        self.asked.append(("app.mpy" if name.endswith("app.mpy") else name[-8:], offset))
        s = self.f.open(name, offset)
        if self.cuts:
            self.cuts -= 1
            return _Short(s, 10)
        return s


class _Short:
    def __init__(self, s, n):
        self.s = s
        self.n = n

    def readinto(self, buf):
        if not self.n:
            return 0
        k = self.s.readinto(memoryview(buf)[: min(self.n, len(buf))])
        self.n -= k
        return k

    def close(self):
        self.s.close()


def test_an_interrupted_install_resumes_where_it_stopped():
    t = _fresh("resume")
    cut = _Cut(BASE + "/1/targets", 1)
    raises(ota.Mismatch, slots.install, t, rl.release(t, P, B, 1), cut)
    eq(boot.installed(), (0, 0), "nothing committed")
    eq(cut.asked, [("app.mpy", 0)])
    slots.install(t, rl.release(t, P, B, 1), cut)
    eq(cut.asked[1:], [("app.mpy", 10), ("util.mpy", 0)], "app.mpy resumed at byte 10")
    eq(app(boot.select()), b"M\x06print('release 1')\n")


def test_a_resumed_file_that_fails_its_hash_is_fetched_again_whole():
    t = _fresh("resume-bad")
    cut = _Cut(BASE + "/1/targets", 1)
    raises(ota.Mismatch, slots.install, t, rl.release(t, P, B, 1), cut)
    d = boot.APP_DIR + "/a/app.mpy"
    with open(d, "r+b") as f:
        f.write(b"X")  # the kept bytes were damaged since
    slots.install(t, rl.release(t, P, B, 1), cut)
    eq(cut.asked[1:], [("app.mpy", 10), ("app.mpy", 0), ("util.mpy", 0)])
    eq(app(boot.select()), b"M\x06print('release 1')\n")


def test_another_release_does_not_resume_into_old_bytes():
    t = _fresh("resume-other")
    cut = _Cut(BASE + "/1/targets", 1)
    raises(ota.Mismatch, slots.install, t, rl.release(t, P, B, 1), cut)
    cut.asked = []
    slots.install(t, rl.release(t, P, B, 2), cut)
    eq(cut.asked, [("app.mpy", 0), ("util.mpy", 0)], "the slot was emptied first")


def test_a_firmware_trial_record_on_a_board_without_esp32_is_ignored():
    t = _fresh("fw-record")
    _install(t, 1)
    with open(boot.APP_DIR + "/firmware", "wb") as f:
        f.write(b'{"release": 0, "floor": 0, "trial": 3, "label": "ota_1", "rfloor": 0}')
    eq(boot.read_firmware()["trial"], 3)
    true(boot.select() is not None, "the app slot still boots")
    true(boot.confirm(), "the app release confirms")
    eq(boot.read_firmware()["trial"], 3, "no firmware confirmed without esp32")
    with open(boot.APP_DIR + "/firmware", "wb") as f:
        f.write(b'{"release": "x"}')
    eq(boot.read_firmware(), None, "a damaged record reads as none")
