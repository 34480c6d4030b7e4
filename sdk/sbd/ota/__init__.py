# sbd.ota: verification of signed updates published as a TUF 1.0 repository.
#
# This file is the verifier: an IO-free state machine after python-tuf's
# TrustedMetadataSet.  It is given bytes (what a fetcher downloaded) and the
# trusted time, and either takes them into its trusted state or raises one
# of the OtaError classes below, leaving that state as it was.  Reading the
# network and writing flash are the client's job (sbd.ota.client), which
# persists a role only after this class accepted it.
#
# Order (TUF 1.0 detailed client workflow, section 5):
#   Trusted(root_bytes, now)       the pinned or last trusted root
#   .update_root(data)             N+1.root.json, each in turn (rotation)
#   .update_timestamp(data)        root must not be expired by then
#   .update_snapshot(data)
#   .update_targets(data)
#   .target(path)                  (length, sha256, custom) of one target
# (a target's bytes are checked while they stream: sbd.ota.client.download)
#
# How signatures are checked (docs/ota.md, approach (d) of
# shared/notes/tuf-on-micropython.md): a metadata file must be the compact
# form python-tuf writes, {"signatures":[...],"signed":{...}}.  Canonical JSON
# sorts "signatures" before "signed", so the signed value is the last one and
# its bytes in the file are its canonical form (for printable-ASCII text).
# The signature is verified over that byte slice, in place, and only the
# verified slice is then parsed.  Any other layout fails closed: the
# signature does not verify, or the split is refused as malformed.
#
# Every length is bounded before anything is parsed, every number is
# checked by sbd.validate's schemas, JSON is strict (RFC 8259, no duplicate
# keys), and time comes from the caller: boards have no clock, so expiry is
# judged against the newest trusted time the client has seen (`now`, an
# ISO 8601 UTC string "YYYY-MM-DDTHH:MM:SSZ", the format TUF uses).
from micropython import const

from sbd import validate as v

MAX_ROOT_BYTES = const(16384)
MAX_TIMESTAMP_BYTES = const(4096)
MAX_SNAPSHOT_BYTES = const(4096)
MAX_TARGETS_BYTES = const(32768)
MAX_KEYS = const(16)  # keys in a root
MAX_ROLE_KEYS = const(8)  # keyids (and threshold) of one role
MAX_TARGETS = const(128)  # entries in targets.json
MAX_TARGET_PATH = const(128)
MAX_TARGET_LENGTH = const(0x7FFFFFFF)
_SPEC_MAJOR = "1"

ROLES = ("root", "timestamp", "snapshot", "targets")


class OtaError(Exception):
    """An update was refused.  `reason` is a short fixed word for events
    and logs; str(e) names the role and the numbers involved, never
    attacker-chosen text."""

    reason = "rejected"


class Malformed(OtaError):
    reason = "malformed"


class Unsigned(OtaError):
    """Fewer valid signatures from the role's keys than its threshold."""

    reason = "signature"


class Rollback(OtaError):
    """A version or release number older than the trusted one."""

    reason = "rollback"


class BadVersion(OtaError):
    """Not the version the referring metadata names."""

    reason = "version"


class Expired(OtaError):
    reason = "expired"


class Mismatch(OtaError):
    """Length or SHA-256 differs from the signed value."""

    reason = "mismatch"


class TooLarge(OtaError):
    """More bytes than allowed (endless-data attack)."""

    reason = "too-large"


class NotFound(OtaError):
    reason = "not-found"


class Refused(OtaError):
    """Signed and valid TUF, but not for this device: wrong product or
    board, older release, below the security floor, bad install path."""

    reason = "refused"


# -- schemas (built on first use; a board verifies rarely) ------------------


def _check_time(s):
    # YYYY-MM-DDTHH:MM:SSZ with digits where digits belong: fixed width, so
    # two such strings compare as the times they name.
    for i in range(20):
        c = s[i]
        if i in (4, 7):
            ok = c == "-"
        elif i == 10:
            ok = c == "T"
        elif i in (13, 16):
            ok = c == ":"
        elif i == 19:
            ok = c == "Z"
        else:
            ok = "0" <= c <= "9"
        if not ok:
            return "not a UTC time"
    return None


def _check_spec(s):
    parts = s.split(".")
    if len(parts) < 2 or len(parts) > 3 or parts[0] != _SPEC_MAJOR or "" in parts:
        return "unsupported spec version"
    return None


def _schema(kind):
    # Built per use and dropped after: the schemas of all roles together
    # are ~11 KB live on the 64-bit unix port, more than any one parse needs.
    hexid = v.text(1, 64, chars="0-9a-f")
    if kind == "sigs":
        return v.list_of(v.obj({"keyid": hexid, "sig": v.hexbytes(64, 64)}), 0, MAX_ROLE_KEYS * 2)
    if kind == "key":
        return v.obj(
            {
                "keytype": v.one_of("ed25519"),
                "scheme": v.one_of("ed25519"),
                "keyval": v.obj({"public": v.hexbytes(32, 32)}),
            }
        )
    if kind == "target":
        return v.obj(
            {
                "length": v.integer(0, MAX_TARGET_LENGTH),
                "hashes": v.obj({"sha256": v.hexbytes(32, 32)}, v.DROP),
                "custom": v.obj({}, v.KEEP, optional=True),
            }
        )
    f = {
        "_type": v.one_of(kind),
        "spec_version": v.text(3, 16, chars="0-9.", check=_check_spec),
        "version": v.integer(1, 0x7FFFFFFF),
        "expires": v.text(20, 20, chars="0-9TZ:-", check=_check_time),
    }
    if kind == "root":
        role = v.obj({"keyids": v.list_of(hexid, 1, MAX_ROLE_KEYS), "threshold": v.integer(1, MAX_ROLE_KEYS)})
        f["consistent_snapshot"] = v.boolean()
        f["keys"] = v.obj({}, v.KEEP)  # keyid -> key, checked one by one
        f["roles"] = v.obj({"root": role, "timestamp": role, "snapshot": role, "targets": role})
    elif kind == "targets":
        f["targets"] = v.obj({}, v.KEEP)  # path -> target, checked one by one
    else:
        metafile = v.obj(
            {
                "version": v.integer(1, 0x7FFFFFFF),
                "length": v.integer(1, 0x7FFFFFFF, optional=True),
                "hashes": v.obj({"sha256": v.hexbytes(32, 32)}, optional=True),
            }
        )
        f["meta"] = v.obj({("snapshot.json" if kind == "timestamp" else "targets.json"): metafile})
    return v.obj(f)


# -- the signed-span split and threshold check ------------------------------

_PREFIX = b'{"signatures":'
_SIGNED = b',"signed":'


def split(data, role):
    """(signatures, memoryview of the signed bytes) of a compact metadata
    file, or Malformed."""
    if not isinstance(data, bytes):
        raise TypeError("metadata must be bytes")
    n = len(data)
    if data[:14] != _PREFIX or n < 28 or data[n - 1] != 0x7D:
        raise Malformed("%s: not compact TUF metadata" % role)
    # A signature list holds only hex strings and two key names, so its
    # first ']' closes it; a ']' anywhere else fails the strict parse below.
    j = data.find(b"]", 14)
    if j < 0 or data[j + 1 : j + 11] != _SIGNED:
        raise Malformed("%s: not compact TUF metadata" % role)
    mv = memoryview(data)
    try:
        sigs = v.parse_json(mv[14 : j + 1], _schema("sigs"), max_bytes=4096, name=role + ".signatures")
    except v.ValidationError as e:
        raise Malformed(str(e))
    seen = []
    for s in sigs:
        if s["keyid"] in seen:
            raise Malformed("%s: two signatures by one key" % role)
        seen.append(s["keyid"])
    return sigs, mv[j + 11 : n - 1]


def _verified(role_name, sigs, signed, root):
    """How many distinct keys of `role_name` in `root` signed `signed`."""
    from sbd.crypto import CryptoError
    from sbd.crypto.ed25519 import Ed25519PublicKey

    role = root["roles"][role_name]
    keys = root["keys"]
    good = []
    for s in sigs:
        kid = s["keyid"]
        if kid not in role["keyids"]:
            continue
        pub = keys[kid]
        if pub in good:  # one key under two ids counts once
            continue
        try:
            Ed25519PublicKey(pub).verify(s["sig"], signed)
        except CryptoError:
            continue
        good.append(pub)
    return len(good)


def _require(role_name, sigs, signed, root, what):
    role = root["roles"][role_name]
    n = _verified(role_name, sigs, signed, root)
    if n < role["threshold"]:
        raise Unsigned("%s: %d of %d signatures (%s)" % (role_name, n, role["threshold"], what))


def _parse(signed, role, max_bytes):
    try:
        return v.parse_json(
            signed, _schema(role), max_bytes=max_bytes, name=role, max_depth=6, max_values=max_bytes // 4
        )
    except v.ValidationError as e:
        raise Malformed(str(e))


def _check_root(root):
    keys = {}
    raw = root["keys"]
    if len(raw) > MAX_KEYS:
        raise Malformed("root: more than %d keys" % MAX_KEYS)
    ks = _schema("key")
    for kid in raw:
        if not 0 < len(kid) <= 64:
            raise Malformed("root: bad keyid")
        for c in kid:
            if not ("0" <= c <= "9" or "a" <= c <= "f"):
                raise Malformed("root: bad keyid")
        try:
            keys[kid] = v.validate(raw[kid], ks, "root.keys")["keyval"]["public"]
        except v.ValidationError as e:
            raise Malformed(str(e))
    for name in ROLES:
        r = root["roles"][name]
        ids = r["keyids"]
        for i in range(len(ids)):
            if ids[i] in ids[i + 1 :]:
                raise Malformed("root: %s lists a key twice" % name)
            if ids[i] not in keys:
                raise Malformed("root: %s names an unknown key" % name)
        if r["threshold"] > len(ids):
            raise Malformed("root: %s threshold above its key count" % name)
    root["keys"] = keys
    return root


def check_path(path):
    """A target path sbd can install: relative, '/'-separated, no '.' or
    '..' parts, printable ASCII without backslash or space."""
    if not 0 < len(path) <= MAX_TARGET_PATH or path[0] == "/" or path[-1] == "/":
        return False
    for c in path:
        if not ("!" <= c <= "~") or c == "\\":
            return False
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return False
    return True


# -- the state machine -------------------------------------------------------


class Trusted:
    """Trusted TUF metadata, advanced one role at a time.  Each update_*
    either accepts the bytes (and they become trusted: persist them) or
    raises an OtaError with the trusted state unchanged."""

    @staticmethod
    def check_now(now):
        if not isinstance(now, str) or len(now) != 20 or _check_time(now):
            raise ValueError("now must be YYYY-MM-DDTHH:MM:SSZ")

    def __init__(self, root_data, now):
        Trusted.check_now(now)
        self.now = now
        self.root = None
        self.timestamp = None
        self.snapshot = None
        self.targets = None
        root = self._load_root(root_data)
        # The starting root is trusted by pinning, and still must be signed
        # by its own threshold (TUF 5.2): a root nobody can sign is useless.
        _require("root", root[0], root[1], root[2], "own keys")
        self.root = root[2]

    def _load_root(self, data):
        if len(data) > MAX_ROOT_BYTES:
            raise TooLarge("root: more than %d bytes" % MAX_ROOT_BYTES)
        sigs, signed = split(data, "root")
        new = _check_root(_parse(signed, "root", MAX_ROOT_BYTES))
        return sigs, signed, new

    def update_root(self, data):
        """The next root (version trusted + 1), signed by a threshold of
        the trusted root's root keys and of its own."""
        if self.timestamp is not None:
            raise RuntimeError("root updates come before the timestamp")
        if len(data) > MAX_ROOT_BYTES:
            raise TooLarge("root: more than %d bytes" % MAX_ROOT_BYTES)
        sigs, signed = split(data, "root")
        _require("root", sigs, signed, self.root, "trusted root's keys")
        new = _check_root(_parse(signed, "root", MAX_ROOT_BYTES))
        want = self.root["version"] + 1
        if new["version"] != want:
            if new["version"] < want:
                raise Rollback("root: version %d, trusted %d" % (new["version"], want - 1))
            raise BadVersion("root: version %d, expected %d" % (new["version"], want))
        _require("root", sigs, signed, new, "new root's keys")
        self.root = new
        return new

    def _expired(self, role, md):
        if md["expires"] <= self.now:
            raise Expired("%s: expired %s, now %s" % (role, md["expires"], self.now))

    def update_timestamp(self, data):
        """True when a newer timestamp was taken in (persist it), False for
        the trusted version again (nothing changes).  Raises Rollback for an
        older one.  A newer but expired one raises Expired after it was
        taken in as intermediate state, for rollback checks only: python-tuf
        does the same, and the client persists nothing that raised."""
        if self.snapshot is not None:
            raise RuntimeError("timestamp comes before the snapshot")
        self._expired("root", self.root)
        if len(data) > MAX_TIMESTAMP_BYTES:
            raise TooLarge("timestamp: more than %d bytes" % MAX_TIMESTAMP_BYTES)
        sigs, signed = split(data, "timestamp")
        _require("timestamp", sigs, signed, self.root, "root's keys")
        new = _parse(signed, "timestamp", MAX_TIMESTAMP_BYTES)
        old = self.timestamp
        if old is not None:
            if new["version"] < old["version"]:
                raise Rollback("timestamp: version %d, trusted %d" % (new["version"], old["version"]))
            if new["version"] == old["version"]:
                return False
            nv = new["meta"]["snapshot.json"]["version"]
            ov = old["meta"]["snapshot.json"]["version"]
            if nv < ov:
                raise Rollback("snapshot: version %d in timestamp, trusted %d" % (nv, ov))
        self.timestamp = new
        self._expired("timestamp", new)
        return True

    def _final_snapshot(self):
        s = self.snapshot
        self._expired("snapshot", s)
        want = self.timestamp["meta"]["snapshot.json"]["version"]
        if s["version"] != want:
            raise BadVersion("snapshot: version %d, timestamp names %d" % (s["version"], want))

    def update_snapshot(self, data, trusted=False):
        """trusted=True for the copy this client persisted itself (its
        length and hash were checked when it arrived).  Like the timestamp,
        a snapshot that is expired or not the version the timestamp names
        is kept as intermediate state and raises."""
        if self.timestamp is None or self.targets is not None:
            raise RuntimeError("snapshot comes after the timestamp, before targets")
        self._expired("timestamp", self.timestamp)
        ref = self.timestamp["meta"]["snapshot.json"]
        self._meta_bytes("snapshot", data, ref, MAX_SNAPSHOT_BYTES, trusted)
        sigs, signed = split(data, "snapshot")
        _require("snapshot", sigs, signed, self.root, "root's keys")
        new = _parse(signed, "snapshot", MAX_SNAPSHOT_BYTES)
        old = self.snapshot
        if old is not None:
            nv = new["meta"]["targets.json"]["version"]
            ov = old["meta"]["targets.json"]["version"]
            if nv < ov:
                raise Rollback("targets: version %d in snapshot, trusted %d" % (nv, ov))
        self.snapshot = new
        self._final_snapshot()
        return new

    def update_targets(self, data):
        if self.snapshot is None:
            raise RuntimeError("targets come after the snapshot")
        self._final_snapshot()
        ref = self.snapshot["meta"]["targets.json"]
        self._meta_bytes("targets", data, ref, MAX_TARGETS_BYTES, False)
        sigs, signed = split(data, "targets")
        _require("targets", sigs, signed, self.root, "root's keys")
        new = _parse(signed, "targets", MAX_TARGETS_BYTES)
        if new["version"] != ref["version"]:
            raise BadVersion("targets: version %d, snapshot names %d" % (new["version"], ref["version"]))
        self._expired("targets", new)
        t = new["targets"]
        if len(t) > MAX_TARGETS:
            raise Malformed("targets: more than %d" % MAX_TARGETS)
        ts = _schema("target")
        for path in t:
            try:
                t[path] = v.validate(t[path], ts, "targets.target")
            except v.ValidationError as e:
                raise Malformed(str(e))
        self.targets = new
        return new

    def _meta_bytes(self, role, data, ref, limit, trusted):
        if len(data) > limit:
            raise TooLarge("%s: more than %d bytes" % (role, limit))
        if trusted:
            return
        n = ref.get("length")
        if n is not None and len(data) != n:
            raise Mismatch("%s: %d bytes, signed length %d" % (role, len(data), n))
        h = ref.get("hashes")
        if h is not None:
            from sbd.crypto import ct_equal
            from sbd.crypto.sha256 import sha256

            if not ct_equal(sha256(data), h["sha256"]):
                raise Mismatch("%s: SHA-256 differs" % role)

    def target(self, path):
        """(length, sha256, custom or None) of a target in the trusted
        targets metadata, or NotFound."""
        if self.targets is None:
            raise RuntimeError("no trusted targets")
        t = self.targets["targets"].get(path)
        if t is None:
            raise NotFound("targets: no such target")
        return t["length"], t["hashes"]["sha256"], t.get("custom")
