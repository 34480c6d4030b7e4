# The SDK a release carries (sbd ota add --with-sdk: its modules under the
# slot's lib/sbd/) is what the app imports: boot.run() points sbd.__path__
# at the slot's lib/sbd once the slot checked out.  The boot stage's own
# modules stay; a slot without lib/sbd, or whose manifest does not list
# it, or a rollback to such a slot, gets /lib/sbd.  Slots are made by hand
# here (tests/vboard/test_ota_sdk_release.py installs a signed one).
import binascii
import hashlib
import sys

from dtest import eq, scratch_path, true
from sbd import _fs, boot, events, privacy

MARKED = b"MARKER = 'slot'\n"  # the slot's sbd.trustedtime: not /lib's


def _probe(name):
    # The app of a slot: which sbd.trustedtime, and which sbd._fs, it gets.
    return (
        "import sbd._fs\nimport sbd.trustedtime\n"
        "WHERE = getattr(sbd.trustedtime, 'MARKER', 'lib')\nFS = sbd._fs\n# %s\n" % name
    ).encode()


def _slot(slot, files, listed=None):
    d = boot.slot_dir(slot)
    _fs.remove_tree(d)
    lines = []
    for path, data in files.items():
        full = d + "/" + path
        _fs.makedirs(full[: full.rfind("/")])
        with open(full, "wb") as f:
            f.write(data)
        if listed is None or path in listed:
            digest = binascii.hexlify(hashlib.sha256(data).digest()).decode()
            lines.append("%d %s %s\n" % (len(data), digest, path))
    with open(boot.path(slot + ".manifest"), "w") as f:
        f.write("".join(lines))


def _entry(slot, release):
    return {"slot": slot, "release": release, "version": "%d.0" % release, "rfloor": 0}


def _point(slot, release, prev=None, trial=0):
    p = _entry(slot, release)
    p.update({"trial": trial, "confirmed": trial == 0, "floor": 0, "prev": prev, "failed": 0})
    boot.write_pointer(p)


def _run(app):
    # One boot: a fresh import of the app and of sbd.trustedtime (a board
    # starts with neither loaded).
    for m in (app, "sbd.trustedtime"):
        sys.modules.pop(m, None)
    d = boot.run(app)
    mod = sys.modules[app]
    return d, mod.WHERE, mod.FS is _fs


def _fresh(name):
    _fs.STATE_DIR = scratch_path("sdkslot-state-" + name)
    boot.APP_DIR = scratch_path("sdkslot-app-" + name)
    _fs.remove_tree(_fs.STATE_DIR)
    _fs.remove_tree(boot.APP_DIR)


def test_the_app_imports_the_sdk_its_slot_carries_and_rollback_brings_back_lib():
    _fresh("rollback")
    # Release 1 (slot b): no SDK, confirmed.  Release 2 (slot a): carries a
    # changed sbd.trustedtime, and an sbd._fs the boot stage never swaps.
    _slot("b", {"probe1.py": _probe("r1")})
    _slot(
        "a",
        {"probe2.py": _probe("r2"), "lib/sbd/__init__.py": b"", "lib/sbd/trustedtime.py": MARKED,
         "lib/sbd/_fs.py": MARKED},
    )  # fmt: skip
    _point("a", 2, prev=_entry("b", 1), trial=1)
    d, where, same_fs = _run("probe2")
    eq((d, where, same_fs), (boot.slot_dir("a"), "slot", True))
    true(sys.modules["sbd.boot"] is boot and sys.modules["sbd.events"] is events, "the boot stage's modules stay")
    true(sys.modules["sbd.privacy"] is privacy, "sbd.privacy stays")
    # Never confirmed: the next boot rolls back to release 1, and /lib/sbd.
    d, where, same_fs = _run("probe1")
    eq((d, where, same_fs), (boot.slot_dir("b"), "lib", True))
    eq(boot.installed(), (1, 0))


def test_only_a_verified_lib_sbd_is_used():
    _fresh("verified")
    files = {"probe3.py": _probe("r3"), "lib/sbd/trustedtime.py": MARKED}
    # On the slot's flash but not in its manifest: the slot fails its check
    # (an unlisted file could be imported), so nothing of it runs: safe mode
    # with /lib/sbd.
    _slot("a", files, listed=("probe3.py",))
    _point("a", 3)
    sys.modules.pop("sbd.trustedtime", None)
    eq(boot.run("probe3"), None)
    import sbd.trustedtime

    eq(getattr(sbd.trustedtime, "MARKER", "lib"), "lib", "an unlisted lib/sbd is never used")
    _point("a", 3)
    # Listed, then changed on flash: the slot fails its check and nothing of
    # it runs (safe mode: no previous release here).
    _slot("a", files)
    eq(_run("probe3")[:2], (boot.slot_dir("a"), "slot"))
    with open(boot.slot_dir("a") + "/lib/sbd/trustedtime.py", "ab") as f:
        f.write(b"EVIL = 1\n")
    sys.modules.pop("sbd.trustedtime", None)
    eq(boot.run("probe3"), None)
    import sbd.trustedtime

    eq(getattr(sbd.trustedtime, "MARKER", "lib"), "lib", "safe mode: /lib/sbd again")
