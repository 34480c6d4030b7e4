# sbd.boot: the boot stage.  Called from the board's main.py before any app
# code runs:
#     from sbd import boot
#     boot.run()           # imports the app's main from the chosen slot
# First it finishes a "delete my data" a power cut interrupted
# (sbd.privacy.resume), so no app code ever sees half-wiped user data.
# Then it decides which app slot boots:
#   1. a release on trial uses up one of its trial boots; with none left and
#      no confirm (the app calls sbd.boot.confirm() once it works), the
#      previous release boots again: automatic rollback;
#   2. every file of the chosen slot is checked against its manifest (length
#      and SHA-256 of the verified targets); on a mismatch the previous slot
#      boots if it checks out, else nothing does: safe mode, where only an
#      update can be received (run() returns None and the caller starts its
#      update path).  A confirmed release whose last full check passed takes
#      the cached path instead (sbd.bootcache: a record under a MAC, checked
#      against what the filesystem reports of every file), with a full check
#      at least every bootcache.CHECK_EVERY boots.
# Each fallback emits an event (boot.rollback, boot.mismatch, boot.safe_mode).
# No sbd.validate here, and crypto only lazily (HMAC for the cache record):
# the boot stage stays small and fast.
#
# The slots (installed by sbd.ota.slots): A/B app slots on the filesystem, with trial boot, confirm
# and automatic rollback.  MicroPython apps are files, so a slot is a folder:
#   /.sbd/app/a/ and /.sbd/app/b/   the app files of two releases
#   /.sbd/app/a.manifest            "<length> <sha256 hex> <path>" per line,
#                                   from the verified targets, written after
#                                   every file of the slot was checked
#   /.sbd/app/pointer               which slot boots: one small JSON object
#                                   replaced with write_atomic, the one commit
#                                   point of an install, a confirm or a
#                                   rollback; {"slot": null, "floor",
#                                   "failed"} once a first release failed
#                                   its trial (rollback)
# An install writes only into the slot that is not booted; a power cut at any
# instant leaves the pointer naming a complete, checked slot (old or new).
# Reading the pointer and manifests needs no crypto and no sbd.validate, so
# the boot stage stays small; everything it reads is checked for
# type and range and any doubt falls back, never forward.
import sys

from micropython import const

from sbd import _fs

APP_DIR = "/.sbd/app"  # module attribute, read at each use (tests move it)
TRIAL_BOOTS = const(3)  # boots a new release gets to confirm itself
_CHUNK = const(1024)
_MAX_POINTER = const(512)
_MAX_MANIFEST = const(16384)
_SDK = "lib/sbd/"  # a slot that carries the SDK has its modules here
checked = None  # how the last select() checked its slot: "full", "cache" or None
_raw = None  # the pointer's bytes as _load() last read them (the cache binds them)


class SlotError(Exception):
    pass


def path(name):
    return APP_DIR + "/" + name


def slot_dir(slot):
    return path(slot)


def read_pointer():
    """The pointer as a dict, or None when nothing is installed (no pointer,
    an unreadable one, or one naming no release: the first release failed
    its trial, see rollback)."""
    p = _load()
    if p is None or p["slot"] is None:
        return None
    return p


def _load():
    # The pointer file as a dict, checked for type and range; None when
    # absent or unreadable.  {"slot": None, "floor", "failed"} when no
    # release boots.  "failed" (the newest release that never confirmed
    # itself, never installed again) is 0 in pointers written before it
    # existed.
    import json

    try:
        with open(path("pointer"), "rb") as f:
            data = f.read(_MAX_POINTER + 1)
    except OSError:
        return None
    if len(data) > _MAX_POINTER:
        return None
    global _raw
    _raw = data
    try:
        p = json.loads(data)
    except ValueError:
        return None
    if type(p) is not dict or type(p.get("floor")) is not int:
        return None
    failed = p.get("failed", 0)
    if type(failed) is not int:
        return None
    if p.get("slot") is None:
        return {"slot": None, "floor": p["floor"], "failed": failed}
    if not _valid_entry(p) or type(p.get("trial")) is not int or type(p.get("confirmed")) is not bool:
        return None
    prev = p.get("prev")
    if prev is not None and not _valid_entry(prev):
        p["prev"] = None
    p["failed"] = failed
    return p


def _valid_entry(e):
    return (
        type(e) is dict
        and e.get("slot") in ("a", "b")
        and type(e.get("release")) is int
        and type(e.get("version")) is str
        and type(e.get("rfloor")) is int
    )


def write_pointer(p):
    import json

    _fs.makedirs(APP_DIR)
    _fs.write_atomic(path("pointer"), json.dumps(p).encode())


def entry(p):
    return {"slot": p["slot"], "release": p["release"], "version": p["version"], "rfloor": p["rfloor"]}


def installed():
    """(release number, security floor) of what boots now; (0, floor) if
    none, (0, 0) with no pointer."""
    p = _load()
    if p is None:
        return 0, 0
    return p["release"] if p["slot"] else 0, p["floor"]


def failed():
    """The newest release that was rolled back, or given up with nothing to
    go back to, because it never confirmed itself on trial (0 if none).
    sbd.ota.slots never installs it, or an older one, again."""
    p = _load()
    return 0 if p is None else p["failed"]


def check_slot(slot):
    """True when every file the slot's manifest lists has its length and
    SHA-256, and the slot's folder holds nothing else (a file no manifest
    line names could be imported: the slot is first on sys.path).  Streams
    each file through one buffer."""
    return _check(slot) > 0


def _check(slot):
    # 0: the slot fails its manifest or holds an unlisted file; 1: it checks
    # out; 2: it checks out and carries the SDK (its manifest lists files
    # under lib/sbd/).
    import hashlib
    import binascii

    try:
        with open(path(slot + ".manifest")) as f:
            size = f.seek(0, 2)  # read(n) would allocate n first
            if not 0 < size <= _MAX_MANIFEST:
                return 0
            f.seek(0)
            text = f.read(size)
    except (OSError, ValueError):  # ValueError: UnicodeError, a damaged byte
        return 0
    buf = memoryview(bytearray(_CHUNK))
    base = slot_dir(slot) + "/"
    listed = set()
    ok = 1
    for line in text.split("\n"):
        if not line:
            continue
        parts = line.split(" ", 2)
        if len(parts) != 3 or ".." in parts[2].split("/"):
            return 0
        try:
            length = int(parts[0])
            want = binascii.unhexlify(parts[1])
            f = open(base + parts[2], "rb")
        except (ValueError, OSError):
            return 0
        h = hashlib.sha256()
        n = 0
        with f:
            while True:
                k = f.readinto(buf)
                if not k:
                    break
                n += k
                if n > length:
                    return 0
                h.update(buf[:k])
        if n != length or h.digest() != want:
            return 0
        expect(listed, parts[2])
        if parts[2].startswith(_SDK):
            ok = 2
    return 0 if strays(slot, listed) else ok


def expect(want, name):
    """Add a slot path and every folder on its way ("lib/", "lib/sbd/") to
    the set `want`, for strays()."""
    want.add(name)
    i = name.find("/")
    while i > 0:
        want.add(name[: i + 1])
        i = name.find("/", i + 1)


def strays(slot, want, remove=False):
    """Whether the slot's folder holds anything `want` (filled by expect())
    does not name: an unlisted file, or a folder with no listed file below
    it.  With remove=True each of them is deleted and the walk goes on."""
    return _strays(slot_dir(slot), "", want, remove)


def _strays(d, rel, want, remove):
    import os

    try:
        names = os.listdir(d)
    except OSError:
        return False
    found = False
    for name in names:
        p = d + "/" + name
        r = rel + name
        if os.stat(p)[0] & 0x4000:  # S_IFDIR
            if r + "/" in want:
                if _strays(p, r + "/", want, remove):
                    if not remove:
                        return True
                    found = True
                continue
            if remove:
                _fs.remove_tree(p)
        elif r in want:
            continue
        elif remove:
            os.remove(p)
        if not remove:
            return True
        found = True
    return found


def confirm():
    """The running release works: keep it, and raise the security floor to
    what it asks (releases below it are refused from now on).  On ESP32
    this also confirms a firmware image on trial, but only once the board
    runs it (below)."""
    fw = _confirm_firmware()
    if _unrecorded:
        return fw  # what runs is not the release the pointer names (_previous)
    p = read_pointer()
    if p is None or p["confirmed"]:
        return fw
    p["confirmed"] = True
    if p["rfloor"] > p["floor"]:
        p["floor"] = p["rfloor"]
    if _below_floor(p):
        p["prev"] = None  # the floor now refuses it: never booted again
    write_pointer(p)
    return True


def _below_floor(p):
    # The previous release is under the floor a later confirm raised: it
    # must not come back by a rollback or a fallback.
    prev = p.get("prev")
    return prev is not None and prev["release"] < p["floor"]


def rollback(reason="rollback"):
    """Boot the previous release again (if there is one); True if so.

    A release rolled back before it confirmed itself is remembered as
    failed (boot.failed(); sbd.ota.slots never installs it or an older one
    again).  One on trial with no previous release to go back to (the
    first release installed) is given up: the pointer then names no
    release, so nothing boots from the slots (run() returns None: the
    factory copy runs), installed() is (0, floor) and a newer release can
    be installed.  A confirmed release with nothing before it stays."""
    p = read_pointer()
    if p is None:
        return False
    prev = None if _below_floor(p) else p.get("prev")
    bad = p["failed"]
    if not p["confirmed"] and p["release"] > bad:
        bad = p["release"]
    if prev is None:
        if p["confirmed"]:
            return False
        write_pointer({"slot": None, "floor": p["floor"], "failed": bad})
    else:
        new = entry(prev)
        new["trial"] = 0
        new["confirmed"] = True
        new["floor"] = p["floor"]
        new["prev"] = None
        new["failed"] = bad
        write_pointer(new)
    _emit("ota.rolled_back", release=p["release"], to=0 if prev is None else prev["release"], reason=reason)
    return prev is not None


def _emit(name, **fields):
    from sbd import events

    if events.listening:
        events.emit(name, **fields)


def select():
    """The folder of the app slot to boot, or None (safe mode)."""
    return _select()[0]


_unrecorded = False  # select() chose the previous release without writing the pointer


def _select():
    # (folder or None, what _check said of it)
    global checked, _unrecorded
    checked = None
    _unrecorded = False
    _firmware_boot()
    p = read_pointer()
    if p is None:
        return None, 0
    if not p["confirmed"]:
        try:
            if p["trial"] <= 0:
                _emit("boot.rollback", release=p["release"])
                if not rollback("not confirmed"):
                    return None, 0
                p = read_pointer()
                if p is None:
                    return None, 0
            else:
                p["trial"] -= 1
                write_pointer(p)
        except OSError:
            # The pointer cannot be written (a full or failing flash): a
            # trial that cannot be counted down does not run; the release
            # before it does, if it checks out, with nothing written.
            checked = "full"
            return _previous(p)
    checked = "cache"
    ok = _cache(p, 0) if p["confirmed"] else 0
    if ok:
        return slot_dir(p["slot"]), ok
    checked = "full"
    ok = _check(p["slot"])
    if ok:
        if p["confirmed"]:
            _cache(p, ok)
        return slot_dir(p["slot"]), ok
    _emit("boot.mismatch", release=p["release"])
    d, ok = _previous(p)
    if d is not None:
        try:
            rollback("mismatch")  # the pointer names the previous release now
            _unrecorded = False
        except OSError:
            pass  # not recorded: the same fallback at the next boot
    return d, ok


def _previous(p):
    # The release before p, if it is above the floor and checks out; else
    # safe mode.  Writes nothing; confirm() then confirms nothing (the
    # pointer still names p, which did not run).
    global _unrecorded
    prev = None if _below_floor(p) else p.get("prev")
    if prev is not None:
        ok = _check(prev["slot"])
        if ok:
            _unrecorded = True
            return slot_dir(prev["slot"]), ok
    _emit("boot.safe_mode")
    return None, 0


def _cache(p, ok):
    # sbd.bootcache.check, loaded only here (sbd.ota imports this module and
    # does not pay for it).  The cache only ever saves time: a MemoryError
    # means a full check, never a failed boot; so does an ImportError
    # (select() called again after run() pointed sbd.__path__ at a slot's
    # SDK, which never carries sbd.bootcache).
    import sys

    had = list(sys.modules)
    try:
        from sbd import bootcache

        return bootcache.check(slot_dir(p["slot"]), path(p["slot"] + ".manifest"), _raw, ok)
    except (ImportError, MemoryError):
        return 0
    finally:
        # What the check loaded (sbd.bootcache, HMAC, maybe sbd.crypto)
        # leaves the heap to the app: it runs once per boot.
        _drop_new(sys, had)


def _drop_new(sys, had):
    for m in [m for m in sys.modules if m not in had]:
        del sys.modules[m]
        parent, _, child = m.rpartition(".")
        if parent in had:
            try:
                delattr(sys.modules[parent], child)
            except (AttributeError, KeyError):
                pass


# -- ESP32 firmware images (installed by sbd.ota.firmware) --------------------
# The image goes into the next app partition (esp32.Partition.get_next_update)
# and set_boot makes ESP-IDF's bootloader boot it once, on trial
# (PENDING_VERIFY); if the app has not called
# esp32.Partition.mark_app_valid_cancel_rollback() by the next reset, the
# bootloader boots the old image again.  That call marks the *running*
# image valid: made between set_boot and the reset it would confirm the old
# image and cancel the new one's trial (docs/virtual-board.md shows this
# pitfall).  So confirm() makes it only when the partition running is the
# one the trial was set to.  The state, /.sbd/app/firmware, one JSON object
# replaced with write_atomic: {"release": confirmed firmware release,
# "floor": its security floor, "trial": release on trial or 0, "label": the
# partition set to boot, "rfloor": the trial's floor, "set": set_boot took
# the trial's image, "failed": the newest release that failed its trial, 0
# if none}.
_fw_set_now = False  # set_boot ran since this boot: no reboot into it yet


def read_firmware():
    """The firmware state as a dict, or None when absent or unreadable."""
    import json

    try:
        with open(path("firmware"), "rb") as f:
            data = f.read(_MAX_POINTER + 1)
        fw = json.loads(data)
    except (OSError, ValueError):
        return None
    if len(data) > _MAX_POINTER or type(fw) is not dict or type(fw.get("label")) is not str:
        return None
    for k in ("release", "floor", "trial", "rfloor"):
        if type(fw.get(k)) is not int:
            return None
    if type(fw.setdefault("failed", 0)) is not int:
        return None
    return fw


def begin_firmware_trial(release, label, rfloor):
    """Record a firmware release about to be set to boot from `label`
    (sbd.ota.firmware, just before set_boot)."""
    global _fw_set_now
    fw = read_firmware() or {"release": 0, "floor": 0}
    fw["trial"] = release
    fw["label"] = label
    fw["rfloor"] = rfloor
    fw["set"] = False
    _fs.makedirs(APP_DIR)
    _fs.write_atomic(path("firmware"), _json(fw))
    _fw_set_now = True


def firmware_set():
    """Record that set_boot accepted the trial's image (sbd.ota.firmware,
    right after it): from now on a trial that ends without a confirm
    failed.  Without this mark the power went before set_boot, and the same
    release may be installed again."""
    fw = read_firmware()
    if fw is not None and fw["trial"]:
        fw["set"] = True
        _fs.write_atomic(path("firmware"), _json(fw))


def end_firmware_trial(fw, confirmed, failed=False):
    if confirmed:
        fw["release"] = fw["trial"]
        if fw["rfloor"] > fw["floor"]:
            fw["floor"] = fw["rfloor"]
    elif failed and fw["trial"] > fw["failed"]:
        # As for app slots: a firmware release that failed its trial (or
        # that ESP-IDF refused) is never installed again, nor one older.
        fw["failed"] = fw["trial"]
    fw["trial"] = 0
    fw["set"] = False
    _fs.write_atomic(path("firmware"), _json(fw))


def _json(d):
    import json

    return json.dumps(d).encode()


def _running_label():
    try:
        import esp32
    except ImportError:
        return None  # not an ESP32: no firmware trial can be running
    return esp32.Partition(esp32.Partition.RUNNING).info()[4]


def _firmware_boot():
    # After a reset, a firmware trial whose partition is not running is over:
    # the bootloader rolled it back (never confirmed, or it did not load), or
    # power went before set_boot.
    if _fw_set_now:
        return
    fw = read_firmware()
    if fw is None or not fw["trial"]:
        return
    label = _running_label()
    if label is None or label == fw["label"]:
        return
    _emit("boot.rollback", release=fw["trial"], firmware=True)
    end_firmware_trial(fw, False, fw.get("set") is True)


def _confirm_firmware():
    fw = read_firmware()
    if fw is None or not fw["trial"] or _fw_set_now or _running_label() != fw["label"]:
        return False
    import esp32

    esp32.Partition.mark_app_valid_cancel_rollback()
    end_firmware_trial(fw, True)
    return True


# The SDK inside a release.  A slot whose manifest lists files under
# lib/sbd/ (sbd ota add --with-sdk) carries the SDK, and its modules must be
# the ones the app imports.  sys.path alone cannot do that: the boot stage has
# already imported the package sbd from /lib, and MicroPython (like CPython)
# finds a submodule through its package's __path__, not sys.path.  So run()
# points sbd.__path__ at the slot's lib/sbd, after _check has verified every
# file its manifest lists.  What is already imported stays as it is: sbd
# itself (its __init__ and __version__), sbd.boot, sbd._fs, sbd.privacy and
# sbd.events (the boot stage's own, always loaded by then), and any sbd module
# main.py imported before run().  Those are the boot stage's interface: a
# release cannot change them (they change only with /lib, by sbd deploy or a
# firmware image).  A slot without lib/sbd gets /lib/sbd back.
_lib_sbd = None  # the boot stage's own sbd.__path__ (/lib/sbd)


def _use_sdk(folder):
    global _lib_sbd
    import sbd

    if _lib_sbd is None:
        _lib_sbd = sbd.__path__
    if folder is None:
        sbd.__path__ = _lib_sbd
    elif type(_lib_sbd) is str:
        sbd.__path__ = folder  # MicroPython: one folder, a str
    else:
        sbd.__path__ = [folder]  # CPython: a list


def run(module="main"):
    """Finish a user data wipe a power cut interrupted (sbd.privacy.resume:
    no app code runs before personal data is gone), then select a slot and
    import its `module`; the slot's folder, or None in safe mode (nothing
    imported).  A slot that carries the SDK (lib/sbd/) has its own sbd
    modules imported by the app (docs/ota.md: the SDK inside a release)."""
    from sbd import privacy

    privacy.resume()
    d, ok = _select()
    _use_sdk(d + "/" + _SDK[:-1] if ok == 2 else None)
    if d is None:
        return None
    for p in (d + "/lib", d):
        if p not in sys.path:
            sys.path.insert(0, p)
    __import__(module)
    return d
