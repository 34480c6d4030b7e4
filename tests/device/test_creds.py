# sbd.creds: round trips, bounds, wipe, and tamper: every single-bit flip
# and every truncation of the store file, files and entries mixed from two
# generations, a store made for another board; no secret in any exception,
# event or repr.  sbd.privacy's confirmation token and its wipe.
# Heap: 160K (the Pico W's budget is 166K).  Measured (mpy, unix port): with
# this module imported, 79 KB of a 128K heap is free; after the factory record
# is made and loaded (sbd.validate parses it) 47 KB is free but the largest
# free block is 897 bytes, and a full store needs ~4 KB blocks.  The store's
# own needs in a fresh process are in bench/results/creds.md.
# sbd-device: heapsize=160K timeout=600
import gc
import os
import time

import fakeboard  # noqa: F401  (installs the stand-in machine before sbd imports it)
from dtest import eq, raises, scratch_path, true
from fakeboard import FAKE
from sbd import _fs, auth, creds, events, privacy
from sbd import identity as idn

SECRET_A = "s3cret-Alpha-7f1e9c"
SECRET_B = b"\x00\xffBRAVO-secret-42\x01"
SECRET_C = "charlie-Secret-99"
PASSWORD = "K7pQ-x9Ve-Tm3R-wHz4"
SALT = b"\x33" * 16
ITER = 1000
SEEN = []
UID = FAKE.uid
RECORDS = {}


def _listen(name, fields):
    SEEN.append((name, fields))


def _fresh(uid=UID, root=bytes(32)):
    _fs.FACTORY_DIR = scratch_path("factory")
    _fs.STATE_DIR = scratch_path("state")
    FAKE.uid = uid
    for p in (idn.record_path(), _fs.STATE_DIR + "/" + auth.STATE_NAME, _path(), _path() + ".tmp", _path() + ".wipe"):
        try:
            os.remove(p)
        except OSError:
            pass
    key = (root, uid)
    if key not in RECORDS:  # provisioning loads validate: once per record, not per test
        from sbd.crypto.kdf import pbkdf2_hmac_sha256
        from sbd.identity import provision as prov

        dk = pbkdf2_hmac_sha256(PASSWORD.encode(), SALT, ITER, 32)
        prov.provision(root, "SBD-9", "Model", "2030-01-31", "sec@x.example", SALT, ITER, dk)
        with open(idn.record_path(), "rb") as f:
            RECORDS[key] = f.read()
        gc.collect()
    else:
        with open(idn.record_path(), "wb") as f:
            f.write(RECORDS[key])
    creds._restart()
    auth._restart()
    del SEEN[:]
    events.unsubscribe(_count)
    events.subscribe(_listen)


def _path():
    return _fs.STATE_DIR + "/" + creds.STORE_NAME


def _read():
    with open(_path(), "rb") as f:
        return f.read()


def _write(data):
    with open(_path(), "wb") as f:
        f.write(data)


TAMPERS = [0]


def _count(name, fields):
    if name == "creds.tamper":
        TAMPERS[0] += 1


def _names():
    return [n for n, _ in SEEN]


def test_round_trips():
    _fresh()
    eq(creds.names(), [], "a new store")
    creds.set("wifi", SECRET_A)
    creds.set("mqtt.pw", SECRET_B)
    creds.set("empty", b"")
    eq(creds.get("wifi"), SECRET_A.encode())
    eq(creds.get("mqtt.pw"), SECRET_B)
    eq(creds.get("empty"), b"")
    eq(creds.names(), ["empty", "mqtt.pw", "wifi"])
    creds.set("wifi", SECRET_C)  # replace
    eq(creds.get("wifi"), SECRET_C.encode())
    eq(creds.get("mqtt.pw"), SECRET_B, "an untouched entry")
    creds.delete("empty")
    eq(creds.names(), ["mqtt.pw", "wifi"])
    raises(creds.NotFound, creds.get, "empty")
    raises(creds.NotFound, creds.delete, "empty")
    creds._restart()  # a reboot: the keys come again from the factory record
    eq(creds.get("mqtt.pw"), SECRET_B)
    eq(_names(), ["creds.set", "creds.set", "creds.set", "creds.set", "creds.deleted"])
    true(SECRET_A.encode() not in _read() and SECRET_C.encode() not in _read(), "the file holds no plaintext")


def test_bounds():
    _fresh()
    raises(ValueError, creds.set, "", b"x")
    raises(ValueError, creds.set, "n" * (creds.MAX_NAME + 1), b"x")
    raises(ValueError, creds.set, "a b", b"x")
    raises(ValueError, creds.set, "caf\u00e9", b"x")
    raises(TypeError, creds.set, b"wifi", b"x")
    raises(TypeError, creds.set, "wifi", 42)
    creds.set("n" * creds.MAX_NAME, b"x")  # the longest name is fine
    e = raises(creds.LimitExceeded, creds.set, "big", b"v" * (creds.MAX_VALUE + 1))
    true(str(e).endswith("%d bytes" % creds.MAX_VALUE), "the bound is in the message")
    creds.set("big", b"v" * creds.MAX_VALUE)
    creds.wipe()
    for i in range(creds.MAX_ENTRIES):
        creds.set("k%d" % i, b"v")
    e = raises(creds.LimitExceeded, creds.set, "one.more", b"v")
    true("%d credentials" % creds.MAX_ENTRIES in str(e), "the entry bound is in the message")
    creds.set("k0", b"replacing is fine when full")
    eq(len(creds.names()), creds.MAX_ENTRIES)
    creds.wipe()
    big = b"v" * creds.MAX_VALUE
    for k in ("a", "b", "c"):
        creds.set(k, big)
    e = raises(creds.LimitExceeded, creds.set, "d", big)
    true("full" in str(e), "the size bound says full")
    eq(creds.names(), ["a", "b", "c"], "a refused set changes nothing")


def test_wipe_overwrites_then_removes():
    _fresh()
    creds.set("wifi", SECRET_A)
    creds.wipe()
    eq(creds.names(), [])
    for suffix in ("", ".tmp", ".wipe"):
        raises(OSError, os.stat, _path() + suffix)
    true("creds.wiped" in _names(), "the wipe is an event")
    # The overwrite itself: a wipe interrupted after its rename leaves the
    # renamed file, which the next call zeroes and removes.
    creds.set("wifi", SECRET_A)
    os.rename(_path(), _path() + ".wipe")
    zeroed = []

    class Spy:  # creds' os, with remove() looking at the file first
        def __getattr__(self, n):
            return getattr(os, n)

        def remove(self, p):
            with open(p, "rb") as f:
                zeroed.append(f.read() == bytes(os.stat(p)[6]))
            os.remove(p)

    creds.os = Spy()
    try:
        eq(creds.names(), [], "an interrupted wipe reads as empty")
    finally:
        creds.os = os
    eq(zeroed, [True], "overwritten with zeros before it was removed")
    raises(OSError, os.stat, _path() + ".wipe")


def test_every_bit_flip_and_truncation_is_detected():
    _fresh()
    creds.set("wifi", SECRET_A)
    creds.set("tok", SECRET_B)
    good = _read()
    n = len(good)
    buf = bytearray(good)
    events.unsubscribe(_listen)  # count, not keep, a few thousand events
    events.subscribe(_count)
    TAMPERS[0] = 0
    flips = 0
    for i in range(n):
        for b in range(8):
            buf[i] ^= 1 << b
            _write(buf)
            raises(creds.Tampered, creds.names)
            buf[i] ^= 1 << b
            flips += 1
    for k in range(n):
        _write(good[:k])
        raises(creds.Tampered, creds.get, "wifi")
    _write(good + b"\x00")
    raises(creds.Tampered, creds.get, "wifi")
    eq(flips, 8 * n)
    eq(TAMPERS[0], 8 * n + n + 1, "one tamper event per detection")
    _write(good)
    eq(creds.get("tok"), SECRET_B, "the intact file opens again")


def test_files_and_entries_mixed_from_two_generations_are_detected():
    _fresh()
    creds.set("wifi", SECRET_A)
    creds.set("tok", SECRET_B)
    old = _read()
    creds.set("tok", SECRET_C)
    new = _read()
    eq(len(old), len(new))
    # Header of one generation, body of the other, either way round; and
    # each entry's bytes moved from the old file into the new.
    for a, b in ((old, new), (new, old)):
        for cut in (17, 18, len(a) // 2, len(a) - 32):
            _write(a[:cut] + b[cut:])
            raises(creds.Tampered, creds.names)
    # Entry level, with a valid file tag (as if the tag key were known): an
    # older generation's record under the newer header still fails, by the
    # generation in its associated data.
    body = bytearray(new[:-32])
    body[18:] = old[18:-32]
    _write(bytes(body) + creds._tag(body))
    e = raises(creds.Tampered, creds.get, "wifi")
    true("entry" in str(e), "caught by the record's associated data")
    # Values swapped between names (valid file tag again): each fails.
    _write(new)
    creds.wipe()
    creds.set("aa", SECRET_A)
    creds.set("bb", SECRET_C)  # same length: the records swap in place
    d = bytearray(_read())
    st = creds._load()
    (_, a0, a1), (_, b0, b1) = st[3]
    ra, rb = bytes(d[a0:a1]), bytes(d[b0:b1])
    d[a0:a1], d[b0:b1] = rb, ra
    _write(bytes(d[:-32]) + creds._tag(d[:-32]))
    raises(creds.Tampered, creds.get, "aa")
    raises(creds.Tampered, creds.get, "bb")


def test_a_tampered_store_stays_refused_until_wiped():
    _fresh()
    creds.set("wifi", SECRET_A)
    d = bytearray(_read())
    d[20] ^= 1
    _write(d)
    raises(creds.Tampered, creds.set, "wifi", b"x")
    raises(creds.Tampered, creds.delete, "wifi")
    eq(bytes(d), _read(), "no write to a tampered store")
    creds.wipe()
    creds.set("wifi", SECRET_A)
    eq(creds.get("wifi"), SECRET_A.encode())


def test_a_store_from_another_board_does_not_open():
    _fresh()
    creds.set("wifi", SECRET_A)
    theirs = _read()
    _fresh(uid=b"\x01\x02\x03\x04\x05\x06\x07\x09")  # same root key, another board id
    _write(theirs)
    e = raises(creds.Tampered, creds.get, "wifi")
    true("integrity" in str(e), str(e))
    _fresh(root=bytes(range(32)))  # same board id, another root key
    _write(theirs)
    raises(creds.Tampered, creds.get, "wifi")
    FAKE.uid = UID


def test_no_secret_in_exceptions_events_or_repr():
    _fresh()
    texts = []
    creds.set("wifi", SECRET_A)
    creds.set("tok", SECRET_B)
    for fn, args in (
        (creds.set, ("big", SECRET_A * 200)),
        (creds.set, ("bad name", SECRET_A)),
        (creds.set, ("wifi", 3)),
        (creds.get, ("nope",)),
    ):
        try:
            fn(*args)
        except Exception as e:  # every error is looked at
            texts.append(repr(e))
            texts.append(str(e))
    d = bytearray(_read())
    d[-1] ^= 1
    _write(d)
    for fn in (creds.names, lambda: creds.get("wifi")):
        try:
            fn()
        except creds.Tampered as e:
            texts.append(repr(e))
            texts.append(str(e))
    texts.append(repr(SEEN))
    texts.append(repr(creds.__dict__.get("_aead")))
    blob = " ".join(texts)
    for s in (SECRET_A, repr(SECRET_B)[2:-1], SECRET_B[2:-1].decode()):
        true(s not in blob, "a secret leaked")
    true("Tampered" in blob and "creds.tamper" in blob, "the failures were really seen")


def test_privacy_wipe_needs_its_token():
    _fresh()
    privacy.DATA_DIR = scratch_path("data")
    privacy.SETTINGS_DIR = scratch_path("settings")
    creds.set("wifi", SECRET_A)
    raises(privacy.NotConfirmed, privacy.wipe_user_data)
    raises(privacy.NotConfirmed, privacy.wipe_user_data, confirm="yes")
    t = privacy.wipe_token()
    raises(privacy.NotConfirmed, privacy.wipe_user_data, confirm=t[:-1] + "x")
    raises(privacy.NotConfirmed, privacy.wipe_user_data, confirm=t)  # used once, even when wrong
    t = privacy.wipe_token()
    privacy.wipe_token()  # a newer token replaces it
    raises(privacy.NotConfirmed, privacy.wipe_user_data, confirm=t)
    now = [0]
    privacy._clock = lambda: now[0]
    t = privacy.wipe_token()
    now[0] = privacy.TOKEN_MS + 1
    raises(privacy.NotConfirmed, privacy.wipe_user_data, confirm=t)
    # A ticks difference wraps on a board: a token read "before" it was made
    # (its age negative) or one whose other clock says days have passed is
    # as stale as one past TOKEN_MS.
    now[0] = 1000
    t = privacy.wipe_token()
    now[0] = 999
    raises(privacy.NotConfirmed, privacy.wipe_user_data, confirm=t)
    secs = [5000]
    privacy._seconds = lambda: secs[0]
    t = privacy.wipe_token()
    now[0] = 1010  # 11 ms by the ticks, as if they had wrapped around since
    secs[0] += 13 * 86400
    raises(privacy.NotConfirmed, privacy.wipe_user_data, confirm=t)
    privacy._seconds = time.time
    eq(creds.get("wifi"), SECRET_A.encode(), "nothing was wiped")
    eq(_names().count("privacy.wipe_refused"), 8)


def test_privacy_wipe_clears_user_data_and_keeps_the_factory_record():
    _fresh()
    data, settings = scratch_path("data"), scratch_path("settings")
    privacy.DATA_DIR, privacy.SETTINGS_DIR = data, settings
    _fs.makedirs(data + "/photos")
    _fs.makedirs(settings)
    for p in (data + "/a.txt", data + "/photos/b.jpg", settings + "/tz"):
        with open(p, "w") as f:
            f.write("personal")
    creds.set("wifi", SECRET_A)
    auth.change(PASSWORD, "my-Own-pass-2026")
    privacy.wipe_user_data(confirm=privacy.wipe_token())
    for p in (data, settings, _path()):
        raises(OSError, os.stat, p)
    eq(creds.names(), [])
    os.stat(idn.record_path())  # the factory record stays
    auth._restart()
    eq(auth.check(PASSWORD), True, "back to the factory password")
    eq(privacy.pending(), False)
    true("privacy.wiped" in _names() and "auth.factory_reset" in _names(), "events")
    eq(privacy.resume(), False, "nothing to resume")


def test_privacy_resume_finishes_an_interrupted_wipe():
    _fresh()
    data = scratch_path("data")
    privacy.DATA_DIR = data
    _fs.makedirs(data)
    with open(data + "/x", "w") as f:
        f.write("personal")
    creds.set("wifi", SECRET_A)
    # The intent marker is on flash, nothing else done yet (a cut right after it).
    _fs.write_atomic(_fs.STATE_DIR + "/" + privacy.MARKER_NAME, b"wipe")
    eq(privacy.pending(), True)
    eq(privacy.resume(), True)
    raises(OSError, os.stat, data)
    eq(creds.names(), [])
    eq(privacy.pending(), False)
    true("privacy.wipe_resumed" in _names(), "the resumed wipe is an event")


def test_wipe_can_keep_named_entries_in_a_new_store():
    _fresh()
    creds.set("wifi", SECRET_A)
    creds.set("mqtt.broker", SECRET_B)
    creds.set("token", SECRET_A)
    with open(_path(), "rb") as f:
        before = f.read()
    creds.wipe(keep=("mqtt.broker", "absent"))
    eq(creds.names(), ["mqtt.broker"])
    eq(creds.get("mqtt.broker"), SECRET_B)
    with open(_path(), "rb") as f:
        after = f.read()
    true(after[5:13] != before[5:13], "a new store id: old records do not open in it")
    for suffix in (".tmp", ".wipe"):
        raises(OSError, os.stat, _path() + suffix)
    # Nothing of the names kept: a full wipe, as before.
    creds.wipe(keep=("absent",))
    raises(OSError, os.stat, _path())
    # A tampered store cannot vouch for what it holds: erased whole.
    creds.set("mqtt.broker", SECRET_B)
    with open(_path(), "r+b") as f:
        f.seek(20)
        b = f.read(1)
        f.seek(20)
        f.write(bytes([b[0] ^ 1]))
    creds.wipe(keep=("mqtt.broker",))
    raises(OSError, os.stat, _path())
    eq(creds.names(), [])
    raises(ValueError, creds.wipe, keep=("bad name",))


def test_privacy_wipe_keeps_the_factory_made_broker_secret():
    _fresh()
    privacy.DATA_DIR, privacy.SETTINGS_DIR = scratch_path("data"), scratch_path("settings")
    creds.set("wifi", SECRET_A)
    creds.set("mqtt.broker", SECRET_B)
    privacy.wipe_user_data(confirm=privacy.wipe_token())
    eq(creds.names(), ["mqtt.broker"], "the user's credentials go, the device's own stays")
    eq(creds.get("mqtt.broker"), SECRET_B)
    # An interrupted wipe resumed at boot keeps it too.
    creds.set("wifi", SECRET_A)
    _fs.write_atomic(_fs.STATE_DIR + "/" + privacy.MARKER_NAME, b"wipe")
    eq(privacy.resume(), True)
    eq(creds.names(), ["mqtt.broker"])
