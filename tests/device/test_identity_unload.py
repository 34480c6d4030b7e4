# What sbd.identity keeps loaded: a device that only checks its record (and
# its password) does not keep sbd.validate or PBKDF2's code in its heap, and
# loads after the first do not parse the record again (bench/results/heap.md
# has the figures; test_boot_heap.py runs a booted device's steps in 64 KiB).
# Its own process, so sys.modules starts clean.  Each test here unloads and
# loads sbd.validate again, which fragments the heap (a device does it once
# per boot), so this module keeps room to spare.
# sbd-device: heapsize=96K timeout=120
import sys

from dtest import data_path, eq, raises, scratch_path, true
from fakeboard import FAKE
from sbd import _fs
from sbd import identity as idn


def _provisioned():
    # A booted device: its record is on flash (the one test_identity's
    # HOST_RECORD holds, made on the host for this fake board), and nothing
    # has loaded sbd.validate or PBKDF2 yet.
    _fs.FACTORY_DIR = scratch_path("factory")
    if not idn.is_provisioned():
        _fs.makedirs(_fs.FACTORY_DIR)
        with open(data_path("identity_host_record.bin"), "rb") as f:
            _fs.write_atomic(idn.record_path(), f.read())
    idn._unload("sbd.validate")
    idn._unload("sbd.crypto.kdf")
    idn._unload("sbd.identity._record")
    true("sbd.validate" not in sys.modules, "start without sbd.validate")


def test_load_unloads_validate_when_it_loaded_it():
    _provisioned()
    ident = idn.load()
    eq(ident.serial, "SBD-000042")
    true("sbd.validate" not in sys.modules, "sbd.validate unloaded after load()")
    true("sbd.validate._scan" not in sys.modules, "its pre-scan too")
    true("sbd.identity._record" not in sys.modules, "and the record's parser")
    import sbd

    true("validate" not in dir(sbd), "and no attribute of the package keeps it")
    # Deriving keys needs HKDF only, not PBKDF2's module.
    eq(len(ident.derive_key(b"x/v1")), 32)
    true("sbd.crypto.kdf" not in sys.modules, "HKDF without sbd.crypto.kdf")


def test_load_keeps_validate_an_app_has_loaded():
    _provisioned()
    from sbd import validate

    idn.load()
    true(sys.modules.get("sbd.validate") is validate, "the app's sbd.validate stays, the same module")
    from sbd import validate as again

    true(again is validate, "the package attribute is the same module")


def test_a_failed_load_unloads_too():
    _provisioned()
    FAKE.uid = b"\x99" * 8
    try:
        idn.load()
    except idn.WrongBoard:
        pass
    else:
        raise AssertionError("a record of another board loaded")
    finally:
        FAKE.uid = b"\x10\x32\x54\x76\x98\xba\xdc\xfe"
    true("sbd.validate" not in sys.modules, "unloaded after a refused record")
    true("sbd.identity._record" not in sys.modules, "the record's parser too")
    # A body the schema refuses (its JSON damaged): refused before the
    # unload hook runs, and unloaded all the same.
    with open(idn.record_path(), "rb") as f:
        good = f.read()
    try:
        with open(idn.record_path(), "wb") as f:
            f.write(good.replace(b'"serial"', b'"serial!'))
        try:
            idn.load()
        except idn.RecordInvalid:
            pass
        else:
            raise AssertionError("a damaged record loaded")
        true("sbd.validate" not in sys.modules, "unloaded after a body that does not parse")
    finally:
        with open(idn.record_path(), "wb") as f:
            f.write(good)


def test_kdf_still_exports_hkdf():
    from sbd.crypto import hkdf as h
    from sbd.crypto import kdf

    true(
        kdf.hkdf is h.hkdf and kdf.hkdf_expand is h.hkdf_expand and kdf.hkdf_extract is h.hkdf_extract, "same functions"
    )
    eq(kdf.HKDF_MAX_LEN, 8160)


def test_a_second_load_of_the_same_record_does_not_parse_it_again():
    _provisioned()
    first = idn.load()
    again = idn.load()
    true(again is first, "the Identity verified from these very bytes")
    true("sbd.validate" not in sys.modules, "sbd.validate not loaded again")
    with open(idn.record_path(), "rb") as f:
        good = f.read()
    try:
        # Any change to the file is decoded and checked in full.
        bad = bytearray(good)
        bad[-1] ^= 1
        with open(idn.record_path(), "wb") as f:
            f.write(bad)
        raises(idn.RecordInvalid, idn.load)
        raises(idn.RecordInvalid, idn.load)  # and stays refused
    finally:
        with open(idn.record_path(), "wb") as f:
            f.write(good)
    eq(idn.load().serial, "SBD-000042")
    # The same bytes on another board: checked again, refused.
    FAKE.uid = b"\x99" * 8
    try:
        raises(idn.WrongBoard, idn.load)
    finally:
        FAKE.uid = b"\x10\x32\x54\x76\x98\xba\xdc\xfe"
    # Removed: not provisioned, whatever was loaded before.
    import os

    os.rename(idn.record_path(), idn.record_path() + ".away")
    try:
        raises(idn.NotProvisioned, idn.load)
    finally:
        os.rename(idn.record_path() + ".away", idn.record_path())


FIELDS = (
    "serial",
    "uid",
    "model",
    "support_end",
    "disclosure",
    "pw_salt",
    "pw_iterations",
    "pw_dk",
    "trust_root",
    "tls_cert",
)


def test_the_shared_identity_is_read_only_and_the_record_is_not_kept():
    # Review finding 10: every caller of load() gets the same Identity, so one
    # that changed trust_root or pw_dk would change what OTA pinning and auth
    # see; and the remembered record held the root key (hex) for the run.
    import hashlib

    _provisioned()
    ident = idn.load()
    before = [getattr(ident, n) for n in FIELDS]
    for n in FIELDS:
        raises(AttributeError, setattr, ident, n, b"\x00" * 32)
        raises(AttributeError, delattr, ident, n)
    for v in (ident.uid, ident.pw_salt, ident.pw_dk):
        eq(type(v), bytes, "an immutable value")
    again = idn.load()
    true(again is ident, "still remembered")
    eq([getattr(again, n) for n in FIELDS], before, "unchanged for the next caller")
    with open(idn.record_path(), "rb") as f:
        good = f.read()
    eq(idn._last[0], hashlib.sha256(good).digest(), "only the record's hash is kept")
    for x in idn._last:
        true(x != good and x != bytes(good), "the record's bytes are not kept")
