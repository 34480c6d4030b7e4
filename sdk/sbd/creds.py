# sbd.creds: the encrypted credential store (Wi-Fi passphrase, API tokens,
# MQTT passwords, the TLS client key).
#
# UK Code of Practice 4 / ETSI EN 303 645 5.4: credentials stored securely.
#     creds.set("wifi", b"passphrase"); creds.get("wifi") -> bytes
#     creds.delete("wifi"); creds.names() -> ["wifi"]; creds.wipe()
#
# One file, sbd._fs.STATE_DIR + "/creds.bin", replaced whole by every change
# (sbd._fs.write_atomic: a temp file, then a rename, which littlefs commits in
# one metadata update).  A power cut at any flash write therefore leaves the
# old store or the new one, and an entry that was not being changed is in
# both (tests/vboard/test_sdk_creds.py cuts at every program and erase).
#
# File layout (version 1), all integers big-endian:
#   "SBDC" | version (1) | store id (8) | generation (4) | count (1)
#   | count * (name length (1) | name | record length (2) | AEAD record)
#   | tag: HMAC-SHA256(file key, everything before it)
# The store id is random, chosen when the store is made (again after a
# wipe); the generation goes up by one at every set or delete.  Each value is
# an sbd.crypto.aead record whose associated data is store id | generation |
# name, so a value only opens under its own name, in the store and the
# generation that wrote it: every change re-encrypts every entry for the new
# generation (at most MAX_ENTRIES small records).
# Keys: Identity.derive_key(b"creds/v1", 64): HKDF from the device root key
# with the board's unique id as salt; the first 32 bytes are the AEAD key
# (context b"creds"), the last 32 the file tag key.  A store copied to another
# board fails its tag there.
#
# Rules, in order:
#   1. no factory record, no store: every call needs sbd.identity's record;
#   2. the file's size is bounded and its tag checks (constant time) before
#      anything in it is parsed or decrypted; any flip, truncation, splice of
#      two files or two generations, or a copy from another board raises
#      Tampered and emits `creds.tamper`; a value is never returned unless its
#      own record authenticates too;
#   3. a tampered store stays refused (set and delete too) until wipe();
#   4. names: 1..MAX_NAME of A-Z a-z 0-9 _ . -; values: bytes or str (UTF-8),
#      at most MAX_VALUE bytes; at most MAX_ENTRIES entries and a file of at
#      most MAX_FILE bytes (LimitExceeded);
#   5. values never appear in an exception, an event or a repr (names do:
#      they are not secret);
#   6. wipe() renames the store aside, overwrites it with zeros, then removes
#      it; a cut midway leaves an empty store and the next call finishes it.
#      wipe(keep=names) instead replaces the store, in one atomic write, by a
#      new store (new id) holding only those entries (sbd.privacy keeps the
#      factory-made broker secret that way); a tampered store is erased whole.
# Limits (docs/creds.md, docs/threat-model.md): the key is on the same flash;
# encryption protects against copying files, not against a whole-flash dump
# (hardware flash encryption closes that), and rolling the whole store or
# flash back to an older copy is not detected (sbd.board.monotonic_counter()
# is None on every board today).
import os

from micropython import const

from sbd import events

STORE_NAME = "creds.bin"  # in sbd._fs.STATE_DIR
MAX_NAME = const(32)
MAX_VALUE = const(1024)
MAX_ENTRIES = const(16)
MAX_FILE = const(4096)

_MAGIC = b"SBDC"
_VERSION = const(1)
_HDR = const(18)
_ID_LEN = const(8)
_TAG = const(32)
_MAX_GEN = const(0x3FFFFFFF)
_NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"


class CredsError(Exception):
    """Base of the errors of sbd.creds."""


class Tampered(CredsError):
    """The store failed its integrity check: damaged, edited, mixed from
    different files or generations, or copied from another board."""


class NotFound(CredsError):
    """No credential of that name."""


class LimitExceeded(CredsError):
    """A value, the entry count or the store size is over its bound."""


_aead = None  # sbd.crypto.aead.Aead under the store key, made at first use
_fmac = None  # sbd.crypto.hmac.HmacSha256 under the file tag key


def _keys():
    global _aead, _fmac
    if _aead is None:
        from sbd import identity

        # The record first: identity.load() is the peak (sbd.validate comes
        # and goes), and aead then loads into the room it left.
        k = identity.load().derive_key(b"creds/v1", 64)
        from sbd.crypto.aead import Aead
        from sbd.crypto.hmac import HmacSha256

        _fmac = HmacSha256(k[32:])
        _aead = Aead(k[:32], b"creds")
    return _aead


def _path():
    from sbd import _fs

    return _fs.STATE_DIR + "/" + STORE_NAME


def _tag(data):
    _keys()
    return _fmac.mac(data)


def _tampered(why):
    events.emit("creds.tamper", what=why)
    return Tampered("the credential store failed its integrity check (%s); wipe it with creds.wipe()" % why)


def _check_name(name):
    if not isinstance(name, str):
        raise TypeError("a credential name is a str")
    if not 0 < len(name) <= MAX_NAME:
        raise ValueError("a credential name has 1 to %d characters" % MAX_NAME)
    for c in name:
        if c not in _NAME_CHARS:
            raise ValueError("a credential name uses only A-Z a-z 0-9 _ . -")
    return name.encode()


def _ad(sid, gen, name):
    return bytes(sid) + gen.to_bytes(4, "big") + name


def _overwrite(path):
    # Zeros over every byte, then remove; absent is fine.
    try:
        n = os.stat(path)[6]
    except OSError:
        return
    z = bytes(256)
    with open(path, "r+b") as f:
        while n > 0:
            f.write(z if n >= 256 else z[:n])
            n -= 256
    os.remove(path)


def _load():
    """(data, store id, generation, [(name bytes, record start, record end)])
    of the verified store, or None when there is none (rule 2)."""
    _keys()
    path = _path()
    try:
        n = os.stat(path)[6]
    except OSError:
        _overwrite(path + ".wipe")  # no store: finish a wipe a power cut interrupted
        return None
    if n > MAX_FILE or n < _HDR + _TAG:
        raise _tampered("size")
    data = bytearray(n)
    try:
        with open(path, "rb") as f:
            got = f.readinto(data)
    except OSError:
        raise _tampered("unreadable") from None
    if got != n:
        raise _tampered("size")
    if data[:4] != _MAGIC or data[4] != _VERSION:
        raise _tampered("header")
    from sbd.crypto import ct_equal

    mv = memoryview(data)
    if not ct_equal(_tag(mv[: n - _TAG]), mv[n - _TAG :]):
        raise _tampered("tag")
    # Authentic from here: the structure can only be wrong if our own writer
    # was, and it is still refused.
    count = data[17]
    entries = []
    p = _HDR
    end = n - _TAG
    for _ in range(count):
        if p + 1 > end:
            raise _tampered("layout")
        ln = data[p]
        name = bytes(mv[p + 1 : p + 1 + ln])
        p += 1 + ln
        if p + 2 > end:
            raise _tampered("layout")
        rl = (data[p] << 8) | data[p + 1]
        p += 2
        if p + rl > end:
            raise _tampered("layout")
        entries.append((name, p, p + rl))
        p += rl
    if p != end or count > MAX_ENTRIES:
        raise _tampered("layout")
    return data, mv[5:13], int.from_bytes(data[13:17], "big"), entries


def _open(st, e):
    from sbd.crypto import CryptoError

    try:
        return _aead.decrypt(memoryview(st[0])[e[1] : e[2]], _ad(st[1], st[2], e[0]))
    except CryptoError:
        raise _tampered("entry") from None


def _find(st, name):
    if st is not None:
        for e in st[3]:
            if e[0] == name:
                return e
    return None


def _save(st, drop, name=None, value=None, only=None):
    """Write the store again at the next generation: every entry of st but
    `drop`, re-encrypted, then (name, value) if given.  With `only` (names
    as bytes): a new store (new id) holding just those entries of st."""
    from sbd import _fs
    from sbd.crypto import random_bytes
    from sbd.crypto.aead import record_size

    if st is None or only is not None:
        sid, gen, olds = random_bytes(_ID_LEN), 0, ()
    else:
        sid, gen, olds = bytes(st[1]), st[2], st[3]
    if only is not None and st is not None:
        olds = [e for e in st[3] if e[0] in only]
    if gen >= _MAX_GEN:
        raise LimitExceeded("the store's generation counter is exhausted; wipe it")
    gen += 1
    keep = [e for e in olds if e[0] != drop]
    size = _HDR + _TAG
    for e in keep:
        size += 3 + len(e[0]) + e[2] - e[1]  # same plaintext, same record size
    if name is not None:
        if len(keep) >= MAX_ENTRIES:
            raise LimitExceeded("the store holds at most %d credentials" % MAX_ENTRIES)
        size += 3 + len(name) + record_size(len(value))
    if size > MAX_FILE:
        raise LimitExceeded("the store is full (%d bytes at most)" % MAX_FILE)
    buf = bytearray(size)
    buf[0:4] = _MAGIC
    buf[4] = _VERSION
    buf[5:13] = sid
    buf[13:17] = gen.to_bytes(4, "big")
    buf[17] = len(keep) + (name is not None)
    p = _HDR
    for e in keep:
        pt = _open(st, e)
        p = _put(buf, p, e[0], _aead.encrypt(pt, _ad(sid, gen, e[0])))
        _zero(pt)
    if name is not None:
        p = _put(buf, p, name, _aead.encrypt(value, _ad(sid, gen, name)))
    buf[p:] = _tag(memoryview(buf)[:p])
    _fs.makedirs(_fs.STATE_DIR)
    _fs.write_atomic(_path(), buf)


def _put(buf, p, name, rec):
    ln = len(name)
    buf[p] = ln
    buf[p + 1 : p + 1 + ln] = name
    p += 1 + ln
    buf[p] = len(rec) >> 8
    buf[p + 1] = len(rec) & 0xFF
    p += 2
    buf[p : p + len(rec)] = rec
    return p + len(rec)


def _zero(b):
    for i in range(len(b)):
        b[i] = 0


def set(name, value):  # shadows the builtin inside this module only (not used here)
    """Store value (bytes or str) under name, replacing any old value."""
    nb = _check_name(name)
    if isinstance(value, str):
        value = value.encode()
    elif not isinstance(value, (bytes, bytearray)):
        raise TypeError("a credential value is bytes or str")
    if len(value) > MAX_VALUE:
        raise LimitExceeded("a credential value is at most %d bytes" % MAX_VALUE)
    _save(_load(), nb, nb, value)
    events.emit("creds.set", entry=name)


def get(name):
    """The value stored under name (bytes); NotFound if there is none."""
    nb = _check_name(name)
    st = _load()
    e = _find(st, nb)
    if e is None:
        raise NotFound("no credential named %s" % name)
    pt = _open(st, e)
    out = bytes(pt)
    _zero(pt)  # the caller's copy is the only one left on the heap
    return out


def delete(name):
    """Remove name's value; NotFound if there is none."""
    nb = _check_name(name)
    st = _load()
    if _find(st, nb) is None:
        raise NotFound("no credential named %s" % name)
    _save(st, nb)
    events.emit("creds.deleted", entry=name)


def names():
    """The names stored, sorted (never the values)."""
    st = _load()
    return sorted(e[0].decode() for e in st[3]) if st is not None else []


def wipe(keep=()):
    """Erase every credential: rename the store aside, overwrite it with
    zeros, remove it (also the temp file of an interrupted write).  Works on
    a tampered store.  The next set() starts a new store (new id).

    keep: names to carry over (the factory-made ones, such as sbd.net.broker's
    secret, which a user data wipe must not take): the store is replaced in
    one atomic write by a new store (new id) holding only those entries, so a
    power cut leaves the old store or the new one.  A tampered store cannot
    vouch for anything it holds: it is erased whole, kept names included."""
    path = _path()
    if keep:
        want = [_check_name(n) for n in keep]
        try:
            st = _load()
        except Tampered:
            st = None
        if st is not None and any(_find(st, n) is not None for n in want):
            _save(st, None, only=want)
            _overwrite(path + ".tmp")
            events.emit("creds.wiped", kept=len(want))
            return
    try:
        os.rename(path, path + ".wipe")
    except OSError:
        pass  # no store (or already renamed by an interrupted wipe)
    _overwrite(path + ".tmp")
    _overwrite(path + ".wipe")
    events.emit("creds.wiped")


def _restart():
    """Forget the keys (tests: stands for a reboot)."""
    global _aead, _fmac
    _aead = None
    _fmac = None
