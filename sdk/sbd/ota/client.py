# sbd.ota.client: the TUF client workflow with IO: a fetcher brings bytes,
# sbd.ota.Trusted judges them, and only what it accepted is persisted, one
# file at a time with sbd._fs.write_atomic, in the order python-tuf's
# ngclient persists (each new root as soon as it is verified, then the
# timestamp, snapshot and targets).  tests/device/test_ota_differential.py
# replays repository states made by python-tuf and checks that this client
# accepts and refuses exactly where ngclient does, and persists the same
# files.
#
# A fetcher has two methods:
#   fetch(name, limit) -> bytes, or None when the repository has no such
#       file; more than limit bytes raises sbd.ota.TooLarge (it never reads
#       more than limit + 1);
#   open(name, offset=0) -> a stream with readinto() and close() that gives
#       the file's bytes from offset on (a resumed download), or None.
from micropython import const

from sbd import _fs
from sbd import ota

_MAX_ROOT_ROTATIONS = const(32)  # python-tuf's default too


def state_dir():
    return _fs.STATE_DIR + "/ota"


def _path(name):
    return state_dir() + "/" + name


class DirFetcher:
    """A repository in a local folder (a mounted card, a push over serial,
    tests)."""

    def __init__(self, root):
        self.root = root

    def open(self, name, offset=0):
        try:
            f = open(self.root + "/" + name, "rb")
        except OSError:
            return None
        if offset:
            f.seek(offset)
        return f

    def fetch(self, name, limit):
        f = self.open(name)
        if f is None:
            return None
        with f:
            return _read_bounded(f, limit, _kind(name))


def _read_bounded(f, limit, what):
    # MicroPython's read(n) allocates n bytes before reading, so asking for
    # limit + 1 would cost the whole bound every time: ask the size first.
    size = f.seek(0, 2)
    f.seek(0)
    if size > limit:
        raise ota.TooLarge("%s: more than %d bytes" % (what, limit))
    data = f.read(size)
    if len(data) != size or f.read(1):
        raise ota.Malformed("%s: changed while read" % what)
    return data


def _kind(name):
    # The role a metadata file name stands for, so an error never echoes a
    # server-chosen name.
    for r in ota.ROLES:
        if name.endswith(r + ".json"):
            return r
    return "target"


def newest_time(now=None):
    """The time sbd.ota judges expiry by: sbd.trustedtime.newest(), the SDK's
    one trusted clock (verified HTTPS Date headers move it), after taking
    `now` into it when given.  Pass `now` only from a source you vouch for
    (the host's clock in `sbd ota push`), never the board's own clock:
    nothing authenticates it, and a time once taken is never given back.
    An older `now` changes nothing; a malformed one raises ValueError."""
    from sbd import trustedtime

    # An earlier sbd.ota kept its own clock here: folded in, never back.
    trustedtime.adopt(_path("clock"))
    if now is None:
        return trustedtime.newest()
    ota.Trusted.check_now(now)
    return trustedtime.advance(now)


_FLOOR = "2026-11-01T00:00:00Z"  # sbd.trustedtime.FLOOR (test_ota_clock.py checks)
_LAST = "2199-12-31T23:59:59Z"  # sbd.trustedtime.LAST


def _judge_time(now):
    # max(now, the trusted clock): a `now` given to refresh() is judged by,
    # never stored (that is newest_time's), and never before the clock.
    t = _clock()
    if now is None:
        return t
    ota.Trusted.check_now(now)
    return now if now > t else t


def _clock():
    # sbd.trustedtime.newest(), read without loading sbd.trustedtime: the
    # refresh has no heap to spare for its code (test_ota_heap.py).  Its
    # file is written only by trustedtime.advance(); anything else in it
    # reads as absent (the floor), as there (test_ota_clock.py compares).
    if _fs.read_bounded(_path("clock"), 0) is not None:
        return newest_time()  # an earlier sbd.ota's own clock: folded in once
    try:
        data = _fs.read_bounded(_fs.STATE_DIR + "/time", 20)
        if data is None:
            return _FLOOR
        t = data.decode()
        ota.Trusted.check_now(t)
    except (OSError, UnicodeError, ValueError):
        return _FLOOR  # unreadable or damaged
    return t if _FLOOR < t <= _LAST else _FLOOR


def emit_rejected(e):
    """Emit ota.rejected with the refusal's reason word (when listened to)."""
    from sbd import events

    if events.listening:
        events.emit("ota.rejected", reason=e.reason)


def _local(name, limit):
    try:
        f = open(_path(name), "rb")
    except OSError:
        return None
    with f:
        return _read_bounded(f, limit, _kind(name))


def _snapshot_or_targets(t, fetcher, role, referrer, limit, update):
    # Steps 5.5 and 5.6, the same for snapshot and targets: keep the
    # persisted copy when it still verifies against what `referrer` names
    # (update(data, True): this client checked its length and hash when it
    # arrived), else fetch that version, verify it and persist it.
    name = role + ".json"
    local = _local(name, limit)
    if local is not None:
        try:
            update(local, True)
            return
        except ota.OtaError:
            pass
    ref = referrer["meta"][name]
    remote = name
    if t.root["consistent_snapshot"]:
        remote = "%d.%s" % (ref["version"], name)
    data = fetcher.fetch(remote, ref.get("length") or limit)
    if data is None:
        raise ota.NotFound(role + ": not in the repository")
    update(data, False)
    _persist(name, data)


def _persist(name, data):
    _fs.makedirs(state_dir())
    _fs.write_atomic(_path(name), data)


def trusted_root(initial_root=None, pin=None):
    """The root to start from: the persisted one (reached by verified
    rotations), else initial_root, whose SHA-256 must equal pin when a pin
    is given (the factory record's trust_root)."""
    data = _local("root.json", ota.MAX_ROOT_BYTES)
    if data is not None:
        return data
    if initial_root is None:
        raise ota.NotFound("root: no trusted root")
    if pin is not None:
        from sbd.crypto import ct_equal
        from sbd.crypto.sha256 import sha256

        if not ct_equal(sha256(initial_root), pin):
            raise ota.Refused("root: not the pinned trust root")
    return initial_root


def refresh(fetcher, now=None, initial_root=None, pin=None):
    """Run the TUF client workflow; return the sbd.ota.Trusted with the
    repository's current targets.  Expiry is judged at the later of `now`
    (when given) and the trusted clock (newest_time()); `now` is not stored.
    Raises OtaError (and emits ota.rejected) on any refusal; what was
    persisted before it stays valid."""
    import gc
    import sys

    now = _judge_time(now)
    gc.collect()  # what reading the clock left: the crypto code below goes in one piece
    # Ed25519 and SHA-512 (~18 KiB of code and tables as .mpy) are needed
    # only here: unless the app had them loaded already, drop them after the
    # refresh so the install that follows has that heap back.
    unload = "sbd.crypto.ed25519" not in sys.modules
    try:
        # Loaded first, before any metadata is read or parsed: the code then
        # sits in one piece at the bottom of the heap (less fragmentation).
        from sbd.crypto import sha512, ed25519  # noqa: F401

        return _refresh(fetcher, now, initial_root, pin)
    except ota.OtaError as e:
        emit_rejected(e)
        raise
    finally:
        if unload:
            _unload(sys)


def _unload(sys):
    import gc

    pkg = sys.modules.get("sbd.crypto")
    for name in ("ed25519", "sha512"):
        if sys.modules.pop("sbd.crypto." + name, None) is not None and pkg is not None:
            try:
                delattr(pkg, name)
            except AttributeError:
                pass
    gc.collect()


def _refresh(fetcher, now, initial_root, pin):
    t = ota.Trusted(trusted_root(initial_root, pin), now)
    # 5.3: each next root in turn, persisted as soon as it is verified.
    for _ in range(_MAX_ROOT_ROTATIONS):
        data = fetcher.fetch("%d.root.json" % (t.root["version"] + 1), ota.MAX_ROOT_BYTES)
        if data is None:
            break
        t.update_root(data)
        _persist("root.json", data)
    # 5.4: the persisted timestamp first (for rollback checks even if it
    # has expired since), then the repository's.
    local = _local("timestamp.json", ota.MAX_TIMESTAMP_BYTES)
    if local is not None:
        try:
            t.update_timestamp(local)
        except ota.OtaError:
            pass
    data = fetcher.fetch("timestamp.json", ota.MAX_TIMESTAMP_BYTES)
    if data is None:
        raise ota.NotFound("timestamp: not in the repository")
    if t.update_timestamp(data):
        _persist("timestamp.json", data)
    # 5.5: the persisted snapshot if it is still the one named, else fetch.
    _snapshot_or_targets(t, fetcher, "snapshot", t.timestamp, ota.MAX_SNAPSHOT_BYTES, t.update_snapshot)
    # 5.6: targets likewise.
    _snapshot_or_targets(
        t, fetcher, "targets", t.snapshot, ota.MAX_TARGETS_BYTES, lambda data, local: t.update_targets(data)
    )
    return t


def download(t, fetcher, path, dest, resume=False):
    """sbd.ota.download.download (loaded only when a target is fetched,
    so a refresh does not pay for its code)."""
    from sbd.ota import download as dl

    dl.download(t, fetcher, path, dest, resume)
