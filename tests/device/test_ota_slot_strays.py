# Nothing but a release's own files in its slot: a resumed install deletes
# whatever else is there, a staging note binds the exact file set (a note
# for another file set starts over), and the boot check refuses a slot that
# holds a file its manifest does not list (the slot is first on sys.path).
# sbd-device: heapsize=192K timeout=300
import hashlib
import os

from dtest import data_path, eq, raises, true
from ota_slot_util import BASE, B, P, fresh
from sbd import _fs, boot, ota
from sbd.ota import client, slots
from sbd.ota import release as rl

APP1 = b"M\x06print('release 1')\n"
APP2 = b"M\x06print('release 2')\n"


def _fresh(name):
    return fresh("strays", name)


def _write(path, data=b"print('not signed')\n"):
    i = path.rfind("/")
    _fs.makedirs(path[:i])
    with open(path, "wb") as f:
        f.write(data)


def _tree(d, rel=""):
    # Every file and folder under d, as sorted slot paths ("lib/" a folder).
    out = []
    for name in os.listdir(d):
        p = d + "/" + name
        if os.stat(p)[0] & 0x4000:
            out.append(rel + name + "/")
            out.extend(_tree(p, rel + name + "/"))
        else:
            out.append(rel + name)
    out.sort()
    return out


def _read(path):
    with open(path, "rb") as f:
        return f.read()


class _Src:
    def __init__(self, data):
        self.data = data
        self.at = 0

    def readinto(self, buf):
        n = min(len(buf), len(self.data) - self.at)
        buf[:n] = self.data[self.at : self.at + n]
        self.at += n
        return n

    def close(self):
        pass


class _Mem:
    """A fetcher serving bytes from a dict; `bad` names are served other
    bytes, short (a man in the middle who then drops the connection)."""

    def __init__(self, files, bad=()):
        self.files = files
        self.bad = bad
        self.asked = []

    def open(self, name, offset=0):
        self.asked.append((name, offset))
        if name in self.bad:
            return _Src(b"print('ATTACKER')\n")
        return _Src(self.files[name][offset:])


class _Trusted:
    # Signed targets as a verified Trusted would give them.
    def __init__(self, files):
        self.root = {"consistent_snapshot": False}
        self.files = files

    def target(self, name):
        d = self.files[name]
        return len(d), hashlib.sha256(d).digest(), {}


def _rel(n, names):
    return rl.Release(n, "5.0.0", 0, [(x, x) for x in sorted(names)])


def test_a_note_for_another_file_set_starts_over():
    _fresh("fileset")
    main = b"import helper\n"
    helper = b"print('signed helper')\n" * 4
    first = _Mem({"main.py": main, "helper.py": helper}, bad=("helper.py",))
    e = raises(ota.OtaError, slots.install, _Trusted(first.files), _rel(5, first.files), first)
    true(isinstance(e, ota.Mismatch), "the connection dropped")
    eq(_read(boot.APP_DIR + "/a/helper.py"), b"print('ATTACKER')\n", "the cut left bytes behind")
    # Release 5 signed again without helper.py: the note was for another file set.
    main = b"try:\n import helper\nexcept ImportError:\n pass\n"
    again = _Mem({"main.py": main})
    eq(slots.install(_Trusted(again.files), _rel(5, again.files), again), "a")
    eq(again.asked, [("main.py", 0)], "started over")
    eq(_tree(boot.APP_DIR + "/a"), ["main.py"])
    true(boot.check_slot("a"), "the slot checks out")
    eq(_read(boot.select() + "/main.py"), main)


class _Cut:
    """A fetcher over the test repository whose first file stops after 10
    bytes (a dropped connection); keeps the staging note it saw last."""

    def __init__(self, cuts=1):
        self.f = client.DirFetcher(data_path(BASE + "/1/targets"))
        self.cuts = cuts
        self.asked = []
        self.note = None

    def open(self, name, offset=0):
        self.asked.append((name[name.rfind("/") + 1 :], offset))
        self.note = _read(boot.APP_DIR + "/staging")
        s = self.f.open(name, offset)
        if not self.cuts:
            return s
        self.cuts -= 1
        try:
            return _Src(s.read(10))
        finally:
            s.close()


def test_a_resume_deletes_what_the_release_does_not_list():
    t = _fresh("resume")
    cut = _Cut()
    raises(ota.Mismatch, slots.install, t, rl.release(t, P, B, 1), cut)
    d = boot.APP_DIR + "/a"
    # Files no signed target names, written between the two attempts.
    for p in ("evil.py", "lib/evil.mpy", "pkg/__init__.py", "deep/er/x.py"):
        _write(d + "/" + p)
    os.mkdir(d + "/lib/empty")
    os.mkdir(d + "/ns")
    slots.install(t, rl.release(t, P, B, 1), cut)
    eq(cut.asked[1:], [("app.mpy", 10), ("util.mpy", 0)], "resumed")
    eq(_tree(d), ["app.mpy", "lib/", "lib/util.mpy"], "only the release's files")
    eq(_read(boot.select() + "/app.mpy"), APP1)


def test_the_boot_check_refuses_a_file_the_manifest_does_not_list():
    t = _fresh("check")
    slots.install(t, rl.release(t, P, B, 1), client.DirFetcher(data_path(BASE + "/1/targets")))
    true(boot.check_slot("a"), "as installed (manifest and pointer live beside the slot)")
    d = boot.APP_DIR + "/a/"
    for p in ("evil.py", "lib/evil.mpy", "lib/sub/x.py", "pkg/__init__.py", "app.mpy.bak"):
        _write(d + p)
        true(not boot.check_slot("a"), p)
        os.remove(d + p)
        _fs.remove_tree(d + "pkg")
        _fs.remove_tree(d + "lib/sub")
        true(boot.check_slot("a"), "without " + p)
    for p in ("ns", "lib/empty"):  # a folder is a namespace package
        os.mkdir(d + p)
        true(not boot.check_slot("a"), p)
        os.rmdir(d + p)
    _write(d + "evil.py")
    eq(boot.select(), None, "nothing else checks out: safe mode")


def test_a_reinstall_after_a_surviving_note_does_not_keep_app_files():
    # A power cut between the pointer commit and the staging note's
    # removal; the release runs, something writes into its slot, it rolls
    # back.  The release that fell back is never installed again (sbd.boot
    # remembers it as failed), so its slot with the app's file never boots.
    t = _fresh("second")
    slots.install(t, rl.release(t, P, B, 1), client.DirFetcher(data_path(BASE + "/1/targets")))
    boot.select()
    boot.confirm()
    keep = _Cut(0)
    eq(slots.install(t, rl.release(t, P, B, 2), keep), "b")
    _write(boot.APP_DIR + "/staging", keep.note)  # the note the cut left
    eq(_read(boot.select() + "/app.mpy"), APP2)
    _write(boot.APP_DIR + "/b/lib/app.py")  # the app writes into its own slot
    eq(_read(boot.select() + "/app.mpy"), APP1, "the boot check fell back")
    eq(boot.installed(), (1, 0))
    eq(boot.failed(), 2)
    raises(ota.Rollback, slots.install, t, rl.release(t, P, B, 2), keep)
    eq(_read(boot.select() + "/app.mpy"), APP1, "release 1 still boots")
