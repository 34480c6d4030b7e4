# A release that never confirms itself on trial, with nothing to roll back
# to (the first release installed): the board is left with no release (the
# factory copy runs), the failed release is never installed again, and a
# newer one installs.  (tests/device/test_ota_slots.py has the rest of the
# slot tests; these run in a process of their own, for the heap.)
# sbd-device: heapsize=160K timeout=300
import gc

from dtest import data_path, eq, raises, true
from ota_slot_util import BASE, B, P, app, fresh
from sbd import boot, events, ota
from sbd.ota import client, slots
from sbd.ota import release as rl


def _fresh(name):
    return fresh("failed", name)


def _install(t, n):
    gc.collect()
    return slots.install(t, rl.release(t, P, B, n), client.DirFetcher(data_path(BASE + "/1/targets")))


def test_a_first_release_that_fails_its_trial_leaves_nothing_installed():
    # Nothing to roll back to: the pointer then names no release, so the
    # board is not stuck with a release "on trial" that refuses every fix.
    t = _fresh("first-fails")
    seen = []

    def on(name, fields):
        seen.append((name, fields.get("release"), fields.get("to")))

    events.subscribe(on)
    eq(_install(t, 1), "a")
    for _ in range(boot.TRIAL_BOOTS):
        eq(app(boot.select()), b"M\x06print('release 1')\n")
    eq(boot.select(), None, "trial over, nothing to go back to: nothing boots")
    true(("ota.rolled_back", 1, 0) in seen, repr(seen))
    eq(boot.read_pointer(), None)
    eq(boot.installed(), (0, 0))
    eq(boot.failed(), 1)
    eq(boot.select(), None, "and stays so")
    eq(boot.rollback(), False)
    # The failed release is never tried again; a newer one installs.
    e = raises(ota.Rollback, _install, t, 1)
    true("failed release" in str(e), str(e))
    eq(_install(t, 2), "a")
    eq(boot.installed(), (2, 0))
    eq(app(boot.select()), b"M\x06print('release 2')\n")
    true(boot.confirm(), "confirmed")
    eq(boot.failed(), 1, "still remembered")
    eq(boot.read_pointer()["prev"], None)
    events.unsubscribe(on)


def test_a_manual_rollback_of_a_first_release_on_trial_gives_it_up():
    t = _fresh("first-manual")
    _install(t, 1)
    boot.select()
    eq(boot.rollback(), False, "nothing to go back to")
    eq((boot.installed(), boot.failed(), boot.select()), ((0, 0), 1, None))
    # A confirmed release with nothing before it stays.
    _install(t, 2)
    boot.select()
    boot.confirm()
    eq(boot.rollback(), False)
    eq((boot.installed(), boot.failed()), ((2, 0), 1))


def test_a_pointer_without_the_failed_field_still_reads():
    # Pointers written before "failed" existed (boards in the field).
    t = _fresh("old-pointer")
    _install(t, 1)
    p = boot.read_pointer()
    del p["failed"]
    boot.write_pointer(p)
    eq(boot.failed(), 0)
    eq(boot.installed(), (1, 0))
    for bad in (b'{"slot": null, "floor": 0, "failed": "1"}', b'{"slot": null, "failed": 1}', b'{"slot": null}'):
        with open(boot.APP_DIR + "/pointer", "wb") as f:
            f.write(bad)
        eq((boot.installed(), boot.failed(), boot.select()), ((0, 0), 0, None), repr(bad))
    with open(boot.APP_DIR + "/pointer", "wb") as f:
        f.write(b'{"slot": null, "floor": 3, "failed": 2}')
    eq((boot.installed(), boot.failed(), boot.read_pointer()), ((0, 3), 2, None))
