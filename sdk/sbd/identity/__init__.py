# sbd.identity: the factory record, written once at provisioning.
#
# UK Code of Practice 1 / ETSI EN 303 645 5.1: every device has its own
# password and identity; nothing universal.  The record holds the serial,
# the device root key, the password verifier, the product facts (model,
# support period end, vulnerability disclosure contact) and optional pins
# (the update trust root, the TLS client certificate).  It lives in
# sbd._fs.FACTORY_DIR (/.sbd/factory/), which no user wipe reaches.
#
# Making a record is sbd.identity.provision (factory code, not loaded in the
# field).  File format (one implementation: the host builds offline images
# with these same modules under CPython):
#     "SBDF" | version (1 byte) | body length (2 bytes, big-endian) | body | tag
# body: UTF-8 JSON object (schema in _schema()); tag: HMAC-SHA256 over
# everything before it, keyed by HKDF(root key, salt = this board's unique
# id, info = "sbd/identity/mac/v1").
#
# Rules load() enforces, in order; each failure is a specific IdentityError:
#   1. the file exists (NotProvisioned otherwise: no silent default);
#   2. its size is bounded and the header is ours (RecordInvalid);
#   3. the body parses with sbd.validate against the schema (RecordInvalid);
#   4. the tag verifies, in constant time, under the key bound to THIS
#      board's id (so a record copied from another board fails: WrongBoard
#      when it is intact for the id it names, RecordInvalid when edited);
#   5. the uid inside the body is this board's (WrongBoard).
# Limits of the protection (docs/identity.md): the tag detects corruption,
# edits and copies; it does not stop an attacker who can read this board's
# flash from recomputing it, because the key is on the same flash.  Hardware
# flash encryption is what closes that (real hardware only).
import os
import sys

from micropython import const

from sbd import board

RECORD_NAME = "identity.bin"
ROOT_KEY_LEN = const(32)
MAX_BODY = const(1536)

MAGIC = b"SBDF"
VERSION = const(1)
HEADER_LEN = const(7)
TAG_LEN = const(32)
_MAC_INFO = b"sbd/identity/mac/v1"

_SALT_MIN = const(16)
_SALT_MAX = const(32)
ITERATIONS_MIN = const(1000)
ITERATIONS_MAX = const(10000000)


class IdentityError(Exception):
    """Base of every error about the factory record."""


class NotProvisioned(IdentityError):
    """The device has no factory record."""


class RecordInvalid(IdentityError):
    """The record is damaged, edited, or not a factory record."""


class WrongBoard(IdentityError):
    """The record was made for another board (copied here)."""


def _schema():
    # Built per parse, not cached: a record is read once per boot, and 4 KB
    # of schema kept for the rest of the run is worth more as free heap.
    from sbd import validate as v

    return v.obj(
        {
            "serial": v.text(1, 32, chars="A-Za-z0-9_.-"),
            "uid": v.hexbytes(4, 16),
            "key": v.hexbytes(ROOT_KEY_LEN, ROOT_KEY_LEN),
            "model": v.text(1, 64, chars=v.PRINTABLE),
            "support_end": v.text(10, 10, chars="0-9-", check=_check_date),
            "disclosure": v.text(3, 128, chars=v.PRINTABLE),
            "pw_salt": v.hexbytes(_SALT_MIN, _SALT_MAX),
            "pw_iter": v.integer(ITERATIONS_MIN, ITERATIONS_MAX),
            "pw_dk": v.hexbytes(32, 32),
            "trust_root": v.hexbytes(32, 32, optional=True),
            "tls_cert": v.hexbytes(32, 32, optional=True),
        }
    )


def _check_date(s):
    # YYYY-MM-DD, a real calendar day (the support period end, ETSI 5.3-13).
    if s[4] != "-" or s[7] != "-" or "-" in s[:4] + s[5:7] + s[8:]:
        return "not a YYYY-MM-DD date"
    y, m, d = int(s[:4]), int(s[5:7]), int(s[8:])
    days = (31, 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if y < 2000 or not 1 <= m <= 12 or not 1 <= d <= days[m - 1]:
        return "not a calendar date"
    return None


def mac_key(root_key, uid):
    from sbd.crypto.hkdf import hkdf

    return hkdf(root_key, uid, _MAC_INFO, 32)


class Identity:
    """A verified factory record.  The root key is kept private: modules
    get keys derived from it (derive_key), never the key itself, and it
    never appears in repr()."""

    def __init__(self, fields, root_key):
        self.serial = fields["serial"]
        self.uid = fields["uid"]
        self.model = fields["model"]
        self.support_end = fields["support_end"]
        self.disclosure = fields["disclosure"]
        self.pw_salt = fields["pw_salt"]
        self.pw_iterations = fields["pw_iter"]
        self.pw_dk = fields["pw_dk"]
        self.trust_root = fields.get("trust_root")
        self.tls_cert = fields.get("tls_cert")
        self._root_key = root_key

    def __repr__(self):
        return "<Identity serial=%s model=%s>" % (self.serial, self.model)

    def derive_key(self, purpose, length=32):
        """A key for one purpose (bytes, e.g. b"creds/v1"), bound to this
        board: HKDF(root key, salt = unique id, info = "sbd/" + purpose)."""
        from sbd.crypto.hkdf import hkdf

        if not isinstance(purpose, bytes) or not purpose:
            raise ValueError("purpose must be non-empty bytes")
        return bytes(hkdf(self._root_key, self.uid, b"sbd/" + purpose, length))


def parse_body(body, err):
    from sbd import validate as v

    try:
        return v.parse_json(body, _schema(), max_bytes=MAX_BODY, name="record")
    except v.ValidationError as e:
        raise err("factory record: %s" % e) from None


def _unload(name):
    # A package's submodules are sys.modules entries and attributes of their
    # parent: both go, so the code can be collected.
    for m in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[m]
    dot = name.rfind(".")
    parent = sys.modules.get(name[:dot])
    attr = name[dot + 1 :]
    if parent is not None and attr in dir(parent):
        delattr(parent, attr)


def _tag_ok(key, uid, signed, tag):
    from sbd.crypto import BadMAC
    from sbd.crypto.hmac import verify_hmac_sha256

    try:
        verify_hmac_sha256(mac_key(key, uid), signed, tag)
    except BadMAC:
        return False
    return True


def decode(data, uid):
    """Check a record's bytes against this board's unique id (rules 2-5)."""
    n = len(data)
    if n < HEADER_LEN + TAG_LEN or n > HEADER_LEN + MAX_BODY + TAG_LEN or data[:4] != MAGIC:
        raise RecordInvalid("not a factory record (damaged or wrong file)")
    if data[4] != VERSION:
        raise RecordInvalid("factory record version %d is not supported" % data[4])
    blen = (data[5] << 8) | data[6]
    if HEADER_LEN + blen + TAG_LEN != n:
        raise RecordInvalid("factory record length does not match (truncated or damaged)")
    mv = memoryview(data)
    fields = parse_body(mv[HEADER_LEN : HEADER_LEN + blen], RecordInvalid)
    key = fields["key"]
    signed = mv[: HEADER_LEN + blen]
    tag = mv[HEADER_LEN + blen :]
    if not _tag_ok(key, uid, signed, tag):
        if fields["uid"] != uid and _tag_ok(key, fields["uid"], signed, tag):
            raise WrongBoard("this factory record belongs to another board (copied?); provision this board")
        raise RecordInvalid("factory record failed its integrity check (edited or damaged)")
    if fields["uid"] != uid:
        raise WrongBoard("this factory record belongs to another board")
    return Identity(fields, key)


def record_path():
    from sbd import _fs

    return _fs.FACTORY_DIR + "/" + RECORD_NAME


def read_record():
    """The record file's bytes (bounded), or NotProvisioned."""
    from sbd._fs import read_bounded

    try:
        data = read_bounded(record_path(), HEADER_LEN + MAX_BODY + TAG_LEN)
    except OSError as e:
        raise RecordInvalid("the factory record cannot be read (error %d)" % e.args[0]) from None
    if data is None:
        raise NotProvisioned("this device has no factory record: provision it with `sbd provision`")
    return data


def load():
    """The verified factory record of this board (rules 1-5)."""
    # sbd.validate (with its pre-scan: about 23 KiB of heap as .mpy on the
    # 64-bit unix port) is needed here once per boot.  When nothing had
    # loaded it before, it is unloaded again afterwards, so a device that
    # only checks its record and its password does not keep it; an app that
    # uses it has it loaded already and keeps it (the same module object).
    keep = "sbd.validate" in sys.modules
    try:
        return decode(read_record(), board.unique_id())
    finally:
        if not keep:
            _unload("sbd.validate")


def is_provisioned():
    try:
        os.stat(record_path())
        return True
    except OSError:
        return False


def require():
    """Refuse to go on without a valid record: call before starting network
    services.  Raises NotProvisioned, RecordInvalid or WrongBoard with a
    message that says what to do."""
    return load()
