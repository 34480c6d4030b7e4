# sbd.identity: the factory record is bound to its board, integrity-checked
# and parsed with sbd.validate; every damage is a specific error.
# The tests provision a record again and again (sbd.validate, the factory
# code and PBKDF2 loaded as .mpy next to the test module), which fragments the
# heap: about 80 KiB is the smallest heap from which every larger one runs them
# on the 64-bit unix port.  A booted device's record, password check and
# credential store run in 64 KiB (test_boot_heap.py, bench/results/heap.md).
# Was 96K.
# sbd-device: heapsize=88K timeout=300
import os

from dtest import eq, raises, scratch_path, true
from fakeboard import FAKE
from sbd import _fs
from sbd import identity as idn
from sbd.identity import provision as prov

UID = FAKE.uid
HOST = bytes(range(32))
SALT = b"\x5a" * 16
DK = b"\xa5" * 32
FIELDS = ("SBD-000042", "Acme Sensor 1", "2031-12-31", "security@acme.example")


def _fresh():
    _fs.FACTORY_DIR = scratch_path("factory")
    FAKE.uid = UID
    try:
        os.remove(idn.record_path())
    except OSError:
        pass


def _provision(**kw):
    return prov.provision(HOST, *FIELDS, SALT, 2000, DK, **kw)


def test_not_provisioned_is_an_error_not_a_default():
    _fresh()
    eq(idn.is_provisioned(), False)
    e = raises(idn.NotProvisioned, idn.require)
    true("sbd provision" in str(e), "the message says what to do")


def test_provision_and_load():
    _fresh()
    ident = _provision()
    again = idn.load()
    for got in (ident, again):
        eq(got.serial, "SBD-000042")
        eq(got.model, "Acme Sensor 1")
        eq(got.support_end, "2031-12-31")
        eq(got.disclosure, "security@acme.example")
        eq(got.uid, UID)
        eq((got.pw_salt, got.pw_iterations, got.pw_dk), (SALT, 2000, DK))
        eq(got.trust_root, None)
    eq(ident.derive_key(b"creds/v1"), again.derive_key(b"creds/v1"))
    true(ident.derive_key(b"creds/v1") != ident.derive_key(b"auth/v1"), "keys per purpose")
    raises(ValueError, ident.derive_key, "creds")
    true("key" not in repr(ident) and "a5a5" not in repr(ident), "repr shows no secret")


def test_root_key_mixes_both_sources():
    k = prov.make_root_key(HOST, UID, device_entropy=b"\x00" * 32)
    eq(k, prov.make_root_key(HOST, UID, device_entropy=b"\x00" * 32))
    true(k != prov.make_root_key(HOST, UID, device_entropy=b"\x01" + b"\x00" * 31), "device entropy counts")
    true(k != prov.make_root_key(b"\x01" + HOST[1:], UID, device_entropy=b"\x00" * 32), "host entropy counts")
    true(k != prov.make_root_key(HOST, b"\x99" * 8, device_entropy=b"\x00" * 32), "bound to the board")
    # The device's own RNG is always mixed in: two provisionings differ.
    true(prov.make_root_key(HOST, UID) != prov.make_root_key(HOST, UID), "device RNG used")
    raises(ValueError, prov.make_root_key, HOST[:31], UID)
    raises(ValueError, prov.make_root_key, "x" * 32, UID)


def test_second_provisioning_needs_replace():
    _fresh()
    first = _provision()
    e = raises(idn.IdentityError, _provision)
    true("already" in str(e), "says why")
    eq(idn.load().derive_key(b"x"), first.derive_key(b"x"))
    second = _provision(replace=True)
    true(second.derive_key(b"x") != first.derive_key(b"x"), "a new root key")


def test_copied_to_another_board_is_refused():
    _fresh()
    _provision()
    FAKE.uid = b"\x99" * 8
    e = raises(idn.WrongBoard, idn.load)
    true("another board" in str(e), str(e))
    FAKE.uid = UID
    idn.load()


def test_uid_edited_to_match_the_new_board_is_refused():
    _fresh()
    _provision()
    with open(idn.record_path(), "rb") as f:
        data = f.read()
    new = b"\x99" * 8
    edited = data.replace(b"1032547698badcfe", b"9999999999999999")
    true(edited != data, "uid found in the body")
    raises(idn.RecordInvalid, idn.decode, edited, new)


def test_every_bit_flip_and_truncation_is_refused():
    _fresh()
    _provision()
    with open(idn.record_path(), "rb") as f:
        data = f.read()
    buf = bytearray(data)
    for i in range(len(buf)):
        for bit in range(8):
            buf[i] ^= 1 << bit
            try:
                idn.decode(buf, UID)
            except idn.IdentityError:
                pass
            else:
                raise AssertionError("flip of byte %d bit %d accepted" % (i, bit))
            buf[i] ^= 1 << bit
    for n in range(len(data)):
        raises(idn.RecordInvalid, idn.decode, data[:n], UID)
    raises(idn.RecordInvalid, idn.decode, data + b"\x00", UID)
    idn.decode(buf, UID)  # the untouched record still loads


def test_bad_fields_are_refused_before_writing():
    _fresh()
    bad = (
        ("SBD/../x", "M", "2031-12-31", "sec@x.example"),
        ("S1", "M", "2031-02-30", "sec@x.example"),
        ("S1", "M", "31-12-2031", "sec@x.example"),
        ("S1", "", "2031-12-31", "sec@x.example"),
        ("S1", "M\n", "2031-12-31", "sec@x.example"),
        ("", "M", "2031-12-31", "sec@x.example"),
    )
    for fields in bad:
        raises(ValueError, prov.provision, HOST, *fields, SALT, 2000, DK)
    raises(ValueError, prov.provision, HOST, *FIELDS, SALT, 10, DK)  # too few iterations
    raises(ValueError, prov.provision, HOST, *FIELDS, SALT[:8], 2000, DK)  # short salt
    eq(idn.is_provisioned(), False)


def test_optional_pins():
    _fresh()
    ident = _provision(trust_root=b"\x01" * 32, tls_cert=b"\x02" * 32)
    eq(ident.trust_root, b"\x01" * 32)
    eq(idn.load().tls_cert, b"\x02" * 32)


# Made once under CPython with provision.encode() (root key 0x07 * 32, the
# FIELDS above, 2000 iterations, trust_root 0x01 * 32): a host-built record
# (offline image provisioning) must load on the device, whatever the key
# order of each runtime's json.dumps.
HOST_RECORD = (
    "534244460101bb7b2273657269616c223a20225342442d303030303432222c2022756964223a20223130333235343736"
    "3938626164636665222c20226b6579223a20223037303730373037303730373037303730373037303730373037303730"
    "3730373037303730373037303730373037303730373037303730373037303730373037222c20226d6f64656c223a2022"
    "41636d652053656e736f722031222c2022737570706f72745f656e64223a2022323033312d31322d3331222c20226469"
    "73636c6f73757265223a202273656375726974794061636d652e6578616d706c65222c202270775f73616c74223a2022"
    "3561356135613561356135613561356135613561356135613561356135613561222c202270775f69746572223a203230"
    "30302c202270775f646b223a202261356135613561356135613561356135613561356135613561356135613561356135"
    "613561356135613561356135613561356135613561356135613561356135222c202274727573745f726f6f74223a2022"
    "303130313031303130313031303130313031303130313031303130313031303130313031303130313031303130313031"
    "30313031303130313031303130313031227db05985185524735cc8cf204b8074808fdc6f5fcf2db5719bb2e0293ce587"
    "f95a"
)


def test_host_built_record_loads_on_both_runtimes():
    from binascii import unhexlify

    ident = idn.decode(unhexlify(HOST_RECORD), UID)
    eq(ident.serial, "SBD-000042")
    eq(ident.trust_root, b"\x01" * 32)
    eq(ident.pw_iterations, 2000)
    # The same inputs re-encoded on this runtime also load (key order may differ).
    again = prov.encode(b"\x07" * 32, UID, *FIELDS, SALT, 2000, DK, trust_root=b"\x01" * 32)
    eq(idn.decode(again, UID).derive_key(b"k"), ident.derive_key(b"k"))
    raises(idn.WrongBoard, idn.decode, unhexlify(HOST_RECORD), b"\x99" * 8)
