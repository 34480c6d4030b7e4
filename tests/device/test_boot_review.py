# The boot stage against what a security review found: a damaged byte in a
# manifest, a pointer that cannot be written, and a previous release under a
# floor that a later confirm raised.  Each fell through before (an exception
# out of boot.select(), or release 1 booting under floor 2).
# sbd-device: heapsize=160K timeout=300
import os

from dtest import data_path, eq, true
from ota_slot_util import BASE, B, P, app, fresh
from sbd import boot
from sbd.ota import client, slots
from sbd.ota import release as rl

R1 = b"M\x06print('release 1')\n"
R2 = b"M\x06print('release 2')\n"


def _two(name):
    # Release 1 confirmed in slot a, release 2 installed in slot b (on trial).
    t = fresh("bootrev", name)
    fetch = client.DirFetcher(data_path(BASE + "/1/targets"))
    slots.install(t, rl.release(t, P, B, 1), fetch)
    boot.select()
    boot.confirm()
    slots.install(t, rl.release(t, P, B, 2), fetch)


def _read(p):
    with open(p, "rb") as f:
        return f.read()


def _write(p, data):
    with open(p, "wb") as f:
        f.write(data)


def test_a_damaged_manifest_byte_falls_back_and_never_raises():
    _two("manifest")
    m = boot.path("b.manifest")
    _write(m, b"\xff" + _read(m)[1:])  # not UTF-8
    eq(app(boot.select()), R1, "release 2's slot fails its check: release 1 boots")
    eq(boot.installed()[0], 1)
    m = boot.path("a.manifest")
    _write(m, _read(m)[:-2] + b"\xfe\n")
    eq(boot.select(), None, "nothing checks out: safe mode, not an exception")


def test_a_pointer_that_cannot_be_written_runs_the_previous_release():
    _two("pointer")
    ptr = boot.path("pointer")
    before = _read(ptr)
    os.mkdir(ptr + ".tmp")  # write_atomic's temporary name taken: the write fails
    eq(app(boot.select()), R1, "a trial that cannot be counted down does not run")
    eq(_read(ptr), before, "nothing written")
    p = boot.read_pointer()
    os.rmdir(ptr + ".tmp")
    p["trial"] = 0
    boot.write_pointer(p)
    before = _read(ptr)
    os.mkdir(ptr + ".tmp")
    eq(app(boot.select()), R1, "a rollback that cannot be recorded still boots release 1")
    eq(_read(ptr), before, "nothing written")
    os.rmdir(ptr + ".tmp")  # the flash can be written again
    eq(boot.confirm(), False, "release 2 did not run this boot: nothing to confirm")
    eq(_read(ptr), before, "nothing written")
    eq(app(boot.select()), R1, "recorded now")
    eq(boot.read_pointer()["release"], 1)


def test_a_raised_floor_forgets_the_release_below_it():
    _two("floor")
    p = boot.read_pointer()
    p["rfloor"] = 2  # release 2 asks for floor 2
    boot.write_pointer(p)
    eq(app(boot.select()), R2)
    true(boot.confirm(), "confirmed")
    p = boot.read_pointer()
    eq((p["floor"], p["prev"]), (2, None))
    eq(boot.rollback(), False, "nothing above the floor to go back to")
    # A pointer an older SDK wrote still names release 1 as the one before.
    p["prev"] = {"slot": "a", "release": 1, "version": "1.0.0", "rfloor": 0}
    boot.write_pointer(p)
    eq(boot.rollback(), False, "release 1 is under the floor")
    _write(boot.slot_dir("b") + "/app.mpy", b"x")  # release 2's slot damaged
    eq(boot.select(), None, "safe mode, never release 1")
    eq(boot.installed(), (2, 2))
