# The boot check's cached path (sbd.boot, docs/ota.md "The cached boot
# check"): after a full check of a confirmed release passes, the next boot
# trusts a record under a MAC that binds the pointer, the manifest and what
# the filesystem reports of every file (size, mtime, names).  Anything that
# record does not vouch for is a full check, and a full check runs at least
# every bootcache.CHECK_EVERY boots.  Slots are made by hand (test_ota_slots.py
# installs signed ones).
import binascii
import hashlib
import os
import time

from dtest import eq, scratch_path, true
from sbd import _fs, boot, bootcache, events

APP = b"print('release 1')\n"
UTIL = b"X = 1\n"
N = bootcache.CHECK_EVERY


def _fresh(name):
    _fs.STATE_DIR = scratch_path("bootcache-state-" + name)
    boot.APP_DIR = scratch_path("bootcache-app-" + name)
    _fs.remove_tree(_fs.STATE_DIR)
    _fs.remove_tree(boot.APP_DIR)
    d = boot.slot_dir("a")
    lines = []
    for rel, data in (("app.py", APP), ("lib/util.py", UTIL)):
        _fs.makedirs((d + "/" + rel)[: (d + "/" + rel).rfind("/")])
        with open(d + "/" + rel, "wb") as f:
            f.write(data)
        lines.append("%d %s %s\n" % (len(data), binascii.hexlify(hashlib.sha256(data).digest()).decode(), rel))
    with open(boot.path("a.manifest"), "w") as f:
        f.write("".join(lines))
    boot.write_pointer(
        {
            "slot": "a",
            "release": 1,
            "version": "1.0",
            "rfloor": 0,
            "trial": 0,
            "confirmed": True,
            "floor": 0,
            "prev": None,
            "failed": 0,
        }
    )
    return d


def _boot():
    # One boot stage run: (slot folder or None, how it was checked, events).
    seen = []

    def fn(n, f):
        seen.append(n)

    events.subscribe(fn)
    try:
        d = boot.select()
    finally:
        events.unsubscribe(fn)
    return d, boot.checked, seen


def _next_second():
    # A write from now on gets an mtime the record cannot hold (mtimes are
    # whole seconds on both runtimes and on littlefs).
    t = int(time.time())
    while int(time.time()) == t:
        time.sleep(0.05)
    # Linux stamps files with a coarse clock that may lag time.time() by a
    # tick: a write in the first milliseconds of the new second could still
    # get the old second (a flake seen under load).
    time.sleep(0.1)


def _record():
    with open(_fs.STATE_DIR + "/boot.cache", "rb") as f:
        return f.read()


def _put_record(data):
    with open(_fs.STATE_DIR + "/boot.cache", "wb") as f:
        f.write(data)


def _key():
    with open(_fs.STATE_DIR + "/boot.key", "rb") as f:
        return f.read()


def _forge(key):
    # The record as the boot stage would write it for the slot as it is now
    # (the app's mtime updated), under `key`: what an attacker would need.
    from sbd.crypto.hmac import HmacSha256

    body = _record()[:-32]
    st = os.stat(boot.slot_dir("a") + "/app.py")
    lines = body.split(b"\n")
    for i, ln in enumerate(lines):
        if ln.endswith(b" app.py"):
            lines[i] = ("f %d %d app.py" % (st[6], st[8])).encode()
    body = b"\n".join(lines)
    return body + HmacSha256(key).mac(body)


def _same_size_edit():
    _next_second()
    with open(boot.slot_dir("a") + "/app.py", "wb") as f:
        f.write(APP.replace(b"1", b"9"))  # same length, other content


def _warm(name):
    d = _fresh(name)
    eq(_boot()[:2], (d, "full"), "first boot: no record yet")
    eq(_boot()[:2], (d, "cache"), "second boot: the record vouches")
    return d


def test_the_second_boot_takes_the_cached_path_and_every_nth_is_full():
    d = _fresh("nth")
    eq(_boot(), (d, "full", []), "no record: full check")
    ways = [_boot()[1] for _ in range(2 * N)]
    eq(ways, (["cache"] * (N - 1) + ["full"]) * 2, "a full check every CHECK_EVERY boots")
    eq(boot.check_slot("a"), True)


def test_the_cache_code_leaves_the_heap_after_the_boot_check():
    import sys

    for m in ("sbd.bootcache", "sbd.crypto.hmac"):  # this file imported them
        sys.modules.pop(m, None)
    _warm("unload")
    for m in ("sbd.bootcache", "sbd.crypto.hmac"):
        true(m not in sys.modules, m + " unloaded: it runs once per boot")


def test_a_release_on_trial_is_always_fully_checked():
    d = _fresh("trial")
    p = boot.read_pointer()
    p["confirmed"] = False
    p["trial"] = 3
    boot.write_pointer(p)
    eq([_boot()[:2] for _ in range(3)], [(d, "full")] * 3)
    try:
        os.stat(_fs.STATE_DIR + "/boot.cache")
        true(False, "a trial boot wrote a record")
    except OSError:
        pass
    boot.confirm()
    eq(_boot()[:2], (d, "full"), "the confirm changed the pointer")
    eq(_boot()[:2], (d, "cache"))


def test_a_same_size_edit_is_a_full_check_that_catches_it():
    _warm("edit")
    _same_size_edit()
    eq(_boot(), (None, "full", ["boot.mismatch", "boot.safe_mode"]))


def test_a_stray_file_is_a_full_check_that_catches_it():
    d = _warm("stray")
    with open(d + "/lib/evil.py", "wb") as f:
        f.write(b"print('not signed')\n")
    eq(_boot(), (None, "full", ["boot.mismatch", "boot.safe_mode"]))


def test_a_stray_folder_is_a_full_check_that_catches_it():
    d = _warm("stray-dir")
    os.mkdir(d + "/extra")
    eq(_boot(), (None, "full", ["boot.mismatch", "boot.safe_mode"]))


def test_a_removed_file_is_a_full_check_that_catches_it():
    d = _warm("removed")
    os.remove(d + "/lib/util.py")
    eq(_boot(), (None, "full", ["boot.mismatch", "boot.safe_mode"]))


def test_a_changed_manifest_or_pointer_is_a_full_check():
    d = _warm("bound")
    with open(boot.path("a.manifest"), "a") as f:
        f.write("\n")  # an empty line: the same release, other bytes
    eq(_boot()[:2], (d, "full"))
    eq(_boot()[:2], (d, "cache"))
    with open(boot.path("pointer"), "ab") as f:
        f.write(b" ")
    eq(_boot()[:2], (d, "full"))
    eq(_boot()[:2], (d, "cache"))


def test_a_damaged_record_is_a_full_check():
    d = _warm("damaged")
    good = _record()
    for i in (0, 20, len(good) - 40, len(good) - 1):  # header, body, last body byte area, tag
        bad = bytearray(good)
        bad[i] ^= 0x01
        _put_record(bad)
        eq(_boot()[:2], (d, "full"), "byte %d flipped" % i)
    for bad in (good[:-1], good[:32], good[:10], b"", good + b"x"):
        _put_record(bad)
        eq(_boot()[:2], (d, "full"), "length %d" % len(bad))
    with open(_fs.STATE_DIR + "/boot.key", "wb") as f:
        f.write(b"\x00" * 31)
    eq(_boot()[:2], (d, "full"), "a short key")
    eq(_boot()[:2], (d, "cache"), "a fresh key and record after the full check")


def test_a_record_forged_for_edited_content_needs_the_key():
    # Content edited (same size) and a record made to match the new mtime:
    # under another key, flipped or truncated it is refused and the full
    # check finds the edit.
    _warm("forged")
    _same_size_edit()
    for forged in (_forge(b"\x55" * 32), _forge(_key())[:-1]):
        _put_record(forged)
        eq(_boot(), (None, "full", ["boot.mismatch", "boot.safe_mode"]))
    bad = bytearray(_forge(_key()))
    bad[5] ^= 0x01
    _put_record(bad)
    eq(_boot(), (None, "full", ["boot.mismatch", "boot.safe_mode"]))


def test_code_that_reads_the_key_can_forge_until_the_periodic_check():
    # What the MAC cannot do (docs/ota.md): code on the board can read the
    # key.  A forged record then holds only until the next full check.
    d = _warm("key-read")
    _same_size_edit()
    _put_record(_forge(_key()))
    ways = []
    while True:
        got, how, _ = _boot()
        ways.append(how)
        if got is None:
            break
        eq(got, d)
        true(len(ways) < N, "no full check within CHECK_EVERY boots")
    eq(ways[-1], "full")
    true(all(w == "cache" for w in ways[:-1]), repr(ways))


def test_a_cached_boot_keeps_the_sdk_its_slot_carries():
    import sys

    import sbd

    d = _fresh("sdk")
    files = {"cacheapp.py": b"X = 1\n", "lib/sbd/__init__.py": b"", "lib/sbd/trustedtime.py": b"MARKER = 1\n"}
    lines = []
    for rel, data in files.items():
        full = d + "/" + rel
        _fs.makedirs(full[: full.rfind("/")])
        with open(full, "wb") as f:
            f.write(data)
        lines.append("%d %s %s\n" % (len(data), binascii.hexlify(hashlib.sha256(data).digest()).decode(), rel))
    for rel in ("app.py", "lib/util.py"):
        os.remove(d + "/" + rel)
    with open(boot.path("a.manifest"), "w") as f:
        f.write("".join(lines))
    saved = sbd.__path__
    got = []
    try:
        for _ in range(2):
            sys.modules.pop("cacheapp", None)
            sbd.__path__ = saved  # each boot starts from /lib's SDK
            eq(boot.run("cacheapp"), d)
            p = sbd.__path__
            got.append((boot.checked, (p if type(p) is str else p[0]) == d + "/lib/sbd"))
    finally:
        sbd.__path__ = saved
        sys.modules.pop("cacheapp", None)
    eq(got, [("full", True), ("cache", True)], "the slot's SDK on both paths")
