# A booted device's first steps in the smallest heap budget, 64 KiB (64-bit
# unix port, the SDK as .mpy): load the factory record, derive a key, check a
# password (PBKDF2 with the record's iterations) and open the credential
# store.  Before the RAM work identity.load() held 44 KiB and these steps did
# not fit (bench/results/heap.md).  One test, so nothing runs before it in
# this process but the runner: the figure is the device's, not a test's.
# sbd-device: heapsize=64K timeout=120
import gc
import sys

from dtest import data_path, eq, scratch_path, true
from fakeboard import FAKE
from sbd import _fs


def test_record_password_and_store_in_64k():
    _fs.FACTORY_DIR = scratch_path("factory")
    _fs.STATE_DIR = scratch_path("state")
    _fs.makedirs(_fs.FACTORY_DIR)
    # The record test_identity's HOST_RECORD holds, made on the host for the
    # fake board's id (its password verifier is not a real password's).
    with open(data_path("identity_host_record.bin"), "rb") as f:
        _fs.write_atomic(_fs.FACTORY_DIR + "/identity.bin", f.read())
    from sbd import identity

    ident = identity.load()
    eq(ident.serial, "SBD-000042")
    eq(ident.uid, FAKE.uid)
    true("sbd.validate" not in sys.modules, "sbd.validate unloaded")
    eq(len(ident.derive_key(b"boot/v1")), 32)
    gc.collect()

    from sbd import auth

    eq(auth.check("not the password"), False)  # PBKDF2 ran, the failure counted
    eq(auth.failures(), 1)
    gc.collect()

    from sbd import creds

    creds.set("wifi", b"correct horse battery staple")
    eq(creds.get("wifi"), b"correct horse battery staple")
    eq(creds.names(), ["wifi"])
