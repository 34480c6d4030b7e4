# sbd.bootcache: the boot check's cached path.  Loaded by sbd.boot only
# while it selects a slot at boot (sbd.ota imports sbd.boot and never this).
#
# Hashing every file on every boot costs time in proportion to the app
# (bench/results/boot.md).  After a full check of a confirmed release passes,
# the boot stage records what the filesystem reports of the slot:
#   STATE_DIR/boot.cache   "sbd-boot-cache/1 <ok> <left> <slot folder>\n"
#                          "<sha256 hex of the pointer's bytes>\n"
#                          "<sha256 hex of the slot's manifest>\n"
#                          "d <folder>/\n" or "f <size> <mtime> <file>\n"
#                          for every entry of the slot, names sorted,
#                          then a 32-byte HMAC-SHA256 tag over all of it
#   STATE_DIR/boot.key     the MAC key: 32 random bytes of this board,
#                          made with the first record
# A later boot of the same confirmed release takes the cached path when the
# tag verifies, the pointer and the manifest are byte for byte the ones the
# full check saw, and every entry of the slot (no more, no fewer) has the
# same size and mtime; the record is then written again with <left> one
# lower.  Anything else (no key or record, a bad tag, a changed stat, a new
# or missing file, another pointer: an install, a trial, a confirm or a
# rollback) is a full check, which writes a fresh record if it passes.
# <left> reaching 0 forces a full check too: content that changed while its
# size and mtime stayed (a raw flash edit, bit rot) runs at most CHECK_EVERY
# boots.  A VFS that reports no mtime (0) gets no record: a full check every
# boot.  docs/ota.md says what the MAC protects against and what it cannot.
# Like sbd.boot it is the boot stage's: a release never carries it
# (sbdtools.ota.BOOT_STAGE).
from micropython import const

from sbd import _fs

CHECK_EVERY = const(16)  # a full check at least every 16 boots
_MAX_MANIFEST = const(16384)  # as sbd.boot reads a manifest
_MAX_CACHE = const(16384)
_TAG = const(32)


def _cache_path(name):
    return _fs.STATE_DIR + "/boot." + name


def _read(p, limit):
    try:
        return _fs.read_bounded(p, limit)
    except OSError:
        return None


def _sha_hex(data):
    import hashlib
    import binascii

    return binascii.hexlify(hashlib.sha256(data).digest()).decode()


def _prints(d, rel, out):
    # The slot's entries as the filesystem reports them ("d"/"f" lines,
    # names sorted, appended to out); False when a file reports no mtime or
    # a name could not be told apart in the record (a newline).
    import os

    names = os.listdir(d)
    names.sort()
    for name in names:
        if "\n" in name:
            return False
        p = d + "/" + name
        st = os.stat(p)
        if st[0] & 0x4000:  # S_IFDIR
            out.append("d " + rel + name + "/\n")
            if not _prints(p, rel + name + "/", out):
                return False
        else:
            if len(st) < 9 or not st[8]:
                return False
            out.append("f %d %d %s%s\n" % (st[6], st[8], rel, name))
    return True


def _state(d, manifest, raw):
    # What the record binds besides its header: the pointer's and the
    # manifest's SHA-256 and the slot's entries; None when it cannot be
    # had (no mtime, unreadable, too large to record).
    man = _read(manifest, _MAX_MANIFEST)
    if raw is None or man is None or len(man) > _MAX_MANIFEST:
        return None
    out = [_sha_hex(raw), "\n", _sha_hex(man), "\n"]
    try:
        if not _prints(d, "", out):
            return None
    except OSError:
        return None
    s = "".join(out).encode()
    return s if len(s) < _MAX_CACHE // 2 else None


def _key():
    k = _read(_cache_path("key"), _TAG)
    return k if k is not None and len(k) == _TAG else None


def _write_record(key, d, ok, left, state):
    from sbd.crypto.hmac import HmacSha256

    body = ("sbd-boot-cache/1 %d %d %s\n" % (ok, left, d)).encode() + state
    _fs.write_atomic(_cache_path("cache"), body + HmacSha256(key).mac(body))


def remember(d, manifest, raw, ok):
    """After a full check of the slot in folder `d` passed (its manifest at
    path `manifest`, `raw` the pointer's bytes, `ok` what sbd.boot's check
    said): a fresh record, and a key the first time.
    Best effort: a record that cannot be written means a full check next
    boot, never a failed boot."""
    try:
        state = _state(d, manifest, raw)
        if state is None:
            forget()
            return
        key = _key()
        if key is None:
            from sbd.crypto import random_bytes

            key = random_bytes(_TAG)
            _fs.makedirs(_fs.STATE_DIR)
            _fs.write_atomic(_cache_path("key"), key)
        _write_record(key, d, ok, CHECK_EVERY - 1, state)
    except (OSError, MemoryError):
        pass  # no record: the next boot checks in full


def forget():
    """Drop the boot check's cache record: the next boot checks every file."""
    import os

    try:
        os.remove(_cache_path("cache"))
    except OSError:
        pass


def cached(d, manifest, raw):
    """1 or 2 (as sbd.boot's full check: 2 when the slot carries the SDK)
    when the record vouches for the slot in folder `d` as it is now, for
    its manifest at path `manifest` and for the pointer bytes `raw`; else 0
    (then the caller runs the full check)."""
    key = _key()
    rec = _read(_cache_path("cache"), _MAX_CACHE)
    if key is None or rec is None or not _TAG < len(rec) <= _MAX_CACHE:
        return 0
    from sbd.crypto import BadMAC
    from sbd.crypto.hmac import HmacSha256

    body = rec[:-_TAG]
    try:
        HmacSha256(key).verify(rec[-_TAG:], body)
    except BadMAC:
        return 0
    i = body.find(b"\n")
    head = body[:i].split(b" ", 3)
    if i < 0 or len(head) != 4 or head[0] != b"sbd-boot-cache/1" or head[3] != d.encode():
        return 0
    try:
        ok = int(head[1])
        left = int(head[2])
    except ValueError:
        return 0
    if ok not in (1, 2) or not 0 < left < CHECK_EVERY:
        return 0
    state = _state(d, manifest, raw)
    if state is None or state != body[i + 1 :]:
        return 0
    try:
        _write_record(key, d, ok, left - 1, state)  # the count must go down, or no cached boot
    except OSError:
        return 0
    return ok


def check(d, manifest, raw, ok):
    """sbd.boot's one call: with ok == 0, cached(d, manifest, raw); else
    remember(d, manifest, raw, ok) and 0."""
    if not ok:
        return cached(d, manifest, raw)
    remember(d, manifest, raw, ok)
    return 0
