# sbd.auth: the device's own password, checked with a back-off that a reboot
# or a power cut cannot reset.
#
# UK Code of Practice 1 / ETSI EN 303 645 5.1-1..5.1-5: no universal default
# password, and brute force made impractical.  Rules, in order:
#   1. no factory record, no login: every call needs sbd.identity's verified
#      record (NotProvisioned, RecordInvalid, WrongBoard say why);
#   2. during a back-off window check() raises Locked(wait_ms) and neither
#      counts nor checks;
#   3. count first, then check: the failure counter is written (atomically)
#      BEFORE the password is compared, so cutting power during a check never
#      gives a free try; a correct password then clears the counter;
#   4. the comparison is PBKDF2-HMAC-SHA256 with the verifier's salt and
#      iterations, then a constant-time compare of the 32-byte results;
#   5. back-off: _FREE_TRIES failures cost nothing, then every failure
#      doubles the wait from _BASE_MS up to _MAX_MS; the wait restarts in full
#      at every boot (no clock survives a reboot here, so a reboot never
#      shortens it);
#   6. the state file (failures, the changed password's verifier) carries an
#      HMAC under a key derived from the device root key: an edited or
#      damaged file is ignored for the password (the factory one applies),
#      counted as the maximum back-off, and reported as `auth.tamper`;
#   7. change(old, new) needs the old password (rules 2-5) and a new one of
#      10..64 characters, without control characters, not in a small list of
#      common passwords and not a run or repeat; factory_reset() returns to
#      the device's own factory password (from its record), never to a
#      shared default, and keeps the failure count.
# Events (sbd.events): auth.ok, auth.failure(count), auth.lockout(count,
# wait_ms), auth.changed, auth.factory_reset, auth.tamper.  Never the password.
import time

from micropython import const

from sbd import events

STATE_NAME = "auth.bin"  # in sbd._fs.STATE_DIR

NEW_MIN_CHARS = const(10)
NEW_MAX_CHARS = const(64)
_MAX_PASSWORD_BYTES = const(256)  # longer input is a failure without any hashing

_FREE_TRIES = const(3)
_BASE_MS = const(1000)
_MAX_MS = const(300000)

# State file: "SBDA" | version | failures (4, big-endian) | has verifier (1)
# | salt (16) | iterations (4) | dk (32) | HMAC-SHA256 tag (32).
_MAGIC = b"SBDA"
_VERSION = const(1)
_SALT_LEN = const(16)
_BODY_LEN = const(62)
_FILE_LEN = const(94)
_MAX_FAILURES = const(0x7FFFFFFF)

# Common passwords of 10 characters or more, one string with a newline
# around each (a new password has no control character, so it can only match
# a whole line): about 0.4 KiB of heap where a tuple of 36 strings cost 3.4.
_COMMON = (
    "\n0123456789\n1234567890\n0987654321\n1234554321\n1q2w3e4r5t\n1qaz2wsx3edc\nqwertyuiop\n"
    "asdfghjkl;\nzxcvbnm,./\nqwerty1234\nqwerty123456\npassword12\npassword123\npassword1234\n"
    "passw0rd123\np@ssw0rd123\niloveyou12\nletmein123\nwelcome123\nchangeme123\nadministrator\n"
    "admin12345\nadmin123456\nabc1234567\nabcd123456\na123456789\n123456789a\nfootball123\n"
    "baseball123\nsunshine123\nprincess123\nmonkey1234\ndragon1234\nmaster1234\ntrustno1234\n"
    "superman123\n"
)


class AuthError(Exception):
    """Base of the errors of sbd.auth."""


class Locked(AuthError):
    """Too many failures: try again after wait_ms milliseconds."""

    def __init__(self, wait_ms):
        super().__init__("too many wrong passwords: try again in %d s" % ((wait_ms + 999) // 1000))
        self.wait_ms = wait_ms


class WrongPassword(AuthError):
    """The current password given to change() was wrong."""


class WeakPassword(AuthError):
    """A new password breaks a rule; the message says which (never the password)."""


_clock = time.ticks_ms  # replaced by tests
_not_before = None  # ticks when the current back-off ends; None: not yet loaded this boot
_state = None  # [failures, the changed password's verifier or None]
_ident = None


def _identity():
    global _ident
    if _ident is None:
        from sbd import identity

        _ident = identity.load()
    return _ident


def _path():
    from sbd import _fs

    return _fs.STATE_DIR + "/" + STATE_NAME


def _mac(body):
    from sbd.crypto.hmac import hmac_sha256

    return hmac_sha256(_identity().derive_key(b"auth/state/v1"), body)


def delay_ms(failures):
    """The back-off after this many consecutive failures."""
    if failures < _FREE_TRIES:
        return 0
    shift = failures - _FREE_TRIES
    if shift >= 20:
        return _MAX_MS
    return min(_BASE_MS << shift, _MAX_MS)


def _load():
    global _state, _not_before
    if _state is not None:
        return _state
    from sbd._fs import read_bounded

    _identity()
    failures, own, tampered = 0, None, False
    try:
        data = read_bounded(_path(), _FILE_LEN)
    except OSError:
        data = b""
    if data is not None:
        from sbd.crypto import ct_equal

        if (
            len(data) != _FILE_LEN
            or data[:4] != _MAGIC
            or data[4] != _VERSION
            or not ct_equal(_mac(data[:_BODY_LEN]), data[_BODY_LEN:])
        ):
            tampered = True
            failures = _MAX_FAILURES
        else:
            failures = int.from_bytes(data[5:9], "big")
            if data[9] == 1:
                own = (bytes(data[10:26]), int.from_bytes(data[26:30], "big"), bytes(data[30:62]))
    _state = [failures, own]
    # Rule 5: a boot starts the current back-off again, in full.
    _not_before = time.ticks_add(_clock(), delay_ms(failures)) if delay_ms(failures) else None
    if tampered:
        events.emit("auth.tamper", what="state file")
    return _state


def _verifier(state):
    """(salt, iterations, dk) of the password in force."""
    if state[1] is not None:
        return state[1]
    ident = _identity()
    return ident.pw_salt, ident.pw_iterations, ident.pw_dk


def _save(failures, own):
    from sbd import _fs

    body = bytearray(_BODY_LEN)
    body[0:4] = _MAGIC
    body[4] = _VERSION
    body[5:9] = min(failures, _MAX_FAILURES).to_bytes(4, "big")
    if own is not None:
        body[9] = 1
        body[10:26] = own[0]
        body[26:30] = own[1].to_bytes(4, "big")
        body[30:62] = own[2]
    _fs.makedirs(_fs.STATE_DIR)
    _fs.write_atomic(_path(), bytes(body) + _mac(body))
    _state[0] = failures
    _state[1] = own


def _bytes(password):
    if isinstance(password, str):
        return password.encode()
    if isinstance(password, (bytes, bytearray)):
        return bytes(password)
    raise TypeError("password must be str or bytes")


def wait_ms():
    """How long until check() will accept a try (0: now)."""
    global _not_before
    _load()
    if _not_before is None:
        return 0
    left = time.ticks_diff(_not_before, _clock())
    # ticks wrap after 2**29 ms (6.2 days): a wait checked that much later
    # reads as a long one ahead.  No real wait exceeds _MAX_MS, so anything
    # else is a wait long over.
    if left <= 0 or left > _MAX_MS:
        _not_before = None
        return 0
    return left


def failures():
    """Consecutive failed checks so far (persisted)."""
    return _load()[0]


def check(password):
    """True if password is this device's password.  Raises Locked during a
    back-off (the try is not counted)."""
    global _not_before
    state = _load()
    left = wait_ms()
    if left:
        raise Locked(left)
    pw = _bytes(password)
    n = state[0] + 1
    _save(n, state[1])  # rule 3: count first
    ok = False
    if len(pw) <= _MAX_PASSWORD_BYTES:
        from sbd.crypto import ct_equal
        from sbd.crypto.kdf import pbkdf2_hmac_sha256

        salt, iterations, dk = _verifier(state)
        ok = ct_equal(pbkdf2_hmac_sha256(pw, salt, iterations, len(dk)), dk)
    if ok:
        _save(0, state[1])
        _not_before = None
        events.emit("auth.ok")
        return True
    events.emit("auth.failure", count=n)
    d = delay_ms(n)
    if d:
        _not_before = time.ticks_add(_clock(), d)
        events.emit("auth.lockout", count=n, wait_ms=d)
    return False


def check_new_password(new):
    """Raise WeakPassword if new breaks a rule of rule 7."""
    if not isinstance(new, str):
        raise TypeError("the new password must be str")
    n = len(new)
    if n < NEW_MIN_CHARS:
        raise WeakPassword("shorter than %d characters" % NEW_MIN_CHARS)
    if n > NEW_MAX_CHARS:
        raise WeakPassword("longer than %d characters" % NEW_MAX_CHARS)
    for c in new:
        if ord(c) < 0x20 or ord(c) == 0x7F:
            raise WeakPassword("contains a control character")
    low = new.lower()
    if "\n" + low + "\n" in _COMMON:
        raise WeakPassword("too common")
    # a run (abcdef..., 987654...) or one character repeated
    step = ord(low[1]) - ord(low[0])
    if step in (-1, 0, 1):
        for i in range(2, n):
            if ord(low[i]) - ord(low[i - 1]) != step:
                break
        else:
            raise WeakPassword("a run or a repeated character")
    ident = _identity()
    if ident.serial.lower() in low:
        raise WeakPassword("contains the serial number")


def change(old, new):
    """Replace the password: the old one must be right (counted and backed
    off like check), the new one must pass check_new_password."""
    from sbd.crypto import random_bytes
    from sbd.crypto.kdf import pbkdf2_hmac_sha256

    check_new_password(new)
    if not check(old):
        raise WrongPassword("the current password is wrong")
    if _bytes(new) == _bytes(old):
        raise WeakPassword("the same as the current password")
    iterations = _identity().pw_iterations
    salt = random_bytes(_SALT_LEN)
    _save(0, (salt, iterations, pbkdf2_hmac_sha256(_bytes(new), salt, iterations, 32)))
    events.emit("auth.changed")


def factory_reset():
    """Back to this device's own factory password (printed on its label);
    the failure count and its back-off stay."""
    state = _load()
    _save(state[0], None)
    events.emit("auth.factory_reset")


def _restart():
    """Forget what this boot knew (tests: stands for a reboot)."""
    global _state, _not_before, _ident
    _state = None
    _not_before = None
    _ident = None
