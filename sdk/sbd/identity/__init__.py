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
# body: UTF-8 JSON object (schema in sbd/identity/_record.py); tag: HMAC-SHA256 over
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
# Every load() reads the file; bytes with the SHA-256 of the ones it verified
# last, on the same board, return that (read-only) Identity without parsing
# them again; only the hash is kept, not the record.
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


def mac_key(root_key, uid):
    from sbd.crypto.hkdf import hkdf

    return hkdf(root_key, uid, _MAC_INFO, 32)


class Identity:
    """A verified factory record, read-only: load() gives every caller the
    same object, so no caller may change what another sees (the OTA trust
    root, the password verifier): its fields are properties without setters
    and their values are immutable (str, int, bytes).  The root key is kept
    private: modules get keys derived from it (derive_key), never the key
    itself, and it never appears in repr()."""

    def __init__(self, fields, root_key):
        g = fields.get
        self._f = (
            fields["serial"],
            fields["uid"],
            fields["model"],
            fields["support_end"],
            fields["disclosure"],
            fields["pw_salt"],
            fields["pw_iter"],
            fields["pw_dk"],
            g("trust_root"),
            g("tls_cert"),
        )
        self._root_key = root_key

    @property
    def serial(self):
        return self._f[0]

    @property
    def uid(self):
        return self._f[1]

    @property
    def model(self):
        return self._f[2]

    @property
    def support_end(self):
        return self._f[3]

    @property
    def disclosure(self):
        return self._f[4]

    @property
    def pw_salt(self):
        return self._f[5]

    @property
    def pw_iterations(self):
        return self._f[6]

    @property
    def pw_dk(self):
        return self._f[7]

    @property
    def trust_root(self):
        return self._f[8]

    @property
    def tls_cert(self):
        return self._f[9]

    def __repr__(self):
        return "<Identity serial=%s model=%s>" % (self.serial, self.model)

    def derive_key(self, purpose, length=32):
        """A key for one purpose (bytes, e.g. b"creds/v1"), bound to this
        board: HKDF(root key, salt = unique id, info = "sbd/" + purpose)."""
        from sbd.crypto.hkdf import hkdf

        if not isinstance(purpose, bytes) or not purpose:
            raise ValueError("purpose must be non-empty bytes")
        return bytes(hkdf(self._root_key, self.uid, b"sbd/" + purpose, length))


def _unload_validate():
    _unload("sbd.validate")


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


def parse_body(body, err):
    """The record body's fields, checked against the schema (sbd.validate),
    or err("factory record: ...")."""
    from sbd.identity._record import parse_body

    return parse_body(body, err)


def decode(data, uid):
    """Check a record's bytes against this board's unique id (rules 2-5)."""
    from sbd.identity._record import decode

    return decode(data, uid)


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


_last = None  # (SHA-256 of the record, uid, Identity): the record load() verified last


def load():
    """The verified factory record of this board (rules 1-5)."""
    global _last
    import hashlib

    data = read_record()
    uid = board.unique_id()
    # The app, auth and creds each load the record at start: the file is read
    # every time, and bytes whose SHA-256 equals (compared in constant time)
    # that of the ones verified last, on the same board, give the same
    # read-only Identity without parsing again.  Any change to the file is
    # decoded and checked in full.  Only the hash is kept, not the record
    # (it holds the root key in hex).
    digest = hashlib.sha256(data).digest()
    last = _last
    if last is not None and last[1] == uid:
        from sbd.crypto import ct_equal

        if ct_equal(last[0], digest):
            return last[2]
    _last = None
    # sbd.validate (with its pre-scan: about 23 KiB of heap as .mpy on the
    # 64-bit unix port) is needed here once per boot.  When nothing had
    # loaded it before, it is unloaded again afterwards, so a device that
    # only checks its record and its password does not keep it; an app that
    # uses it has it loaded already and keeps it (the same module object).
    keep = "sbd.validate" in sys.modules
    keep_record = "sbd.identity._record" in sys.modules
    from sbd.identity import _record

    try:
        # Unloaded as soon as the body is parsed: the tag check's crypto
        # then loads into the room sbd.validate left (a lower peak).
        ident = _record.decode(data, uid, None if keep else _unload_validate)
    finally:
        if not keep:
            _unload("sbd.validate")
        if not keep_record:
            _unload("sbd.identity._record")
    _last = (digest, uid, ident)
    return ident


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
