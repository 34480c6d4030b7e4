# sbd.trustedtime: the newest trusted time the device has seen, kept on
# flash, for judging expiry (update metadata, certificates) on boards that
# have no clock to trust.
#
# It is the SDK's one trusted clock: sbd.ota judges update metadata by it
# (sbd.ota.client.newest_time).  A time is "trusted" when it came through a
# check the device made itself, the Date header of a server whose
# certificate and name the device verified (sbd.net.http does this itself),
# or from a caller that vouches for it (sbd.ota.client.newest_time(now): the
# host's clock in `sbd ota push`).  Never the board's own clock or NTP:
# nothing authenticates them.  Verified TUF metadata moves nothing: it
# carries no signing time (docs/ota.md, "Time without a clock").
# Times are TUF's format, "YYYY-MM-DDTHH:MM:SSZ" (UTC, fixed width, so two of
# them compare as strings the way the times compare).  Rules, in order:
#   1. it never goes back: advance() keeps the newer of the stored time and
#      the one given; an older time changes nothing;
#   2. a bad input changes nothing: anything that is not a well-formed time
#      in YEARS raises ValueError before anything is written;
#   3. newest() is never before FLOOR (this SDK's release): a board that has
#      seen no trusted time yet still refuses metadata that expired before
#      its firmware existed;
#   4. the file is replaced atomically (sbd._fs.write_atomic): after a power
#      cut it holds the old time or the new one.  A damaged file reads as
#      absent (FLOOR), and so does a deleted one: like the credential store,
#      rolling the flash back is not detected (sbd.board.monotonic_counter()
#      is None on every board).
# A server that is trusted but wrong (a clock years ahead) moves the time
# forward for good, and everything expiring before then looks expired: that
# is the safe direction (refuse), and the way out is a re-provisioning (it
# clears sbd._fs.STATE_DIR).  docs/telemetry.md, "Trusted time".
from micropython import const

FLOOR = "2026-11-01T00:00:00Z"
LAST = "2199-12-31T23:59:59Z"  # the newest time this module holds
NAME = "time"  # in sbd._fs.STATE_DIR
_MIN_YEAR = const(2020)
_MAX_YEAR = const(2199)
_MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec"
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DIGITS = "0123456789"


def _num(s, a, b):
    n = 0
    for i in range(a, b):
        c = s[i]
        if c not in _DIGITS:
            raise ValueError("not a time")
        n = n * 10 + ord(c) - 48
    return n


def _fields(t):
    # (year, month, day, hour, minute, second) of a string laid out as
    # "YYYY-MM-DDTHH:MM:SSZ", whatever the values; else ValueError.
    if type(t) is not str or len(t) != 20:
        raise ValueError("not a time")
    if t[4] != "-" or t[7] != "-" or t[10] != "T" or t[13] != ":" or t[16] != ":" or t[19] != "Z":
        raise ValueError("not a time")
    return _num(t, 0, 4), _num(t, 5, 7), _num(t, 8, 10), _num(t, 11, 13), _num(t, 14, 16), _num(t, 17, 19)


def check(t):
    """t if it is a well-formed "YYYY-MM-DDTHH:MM:SSZ" within the supported
    years, else ValueError (the message never echoes the input)."""
    y, mo, d, h, mi, s = _fields(t)
    if not _MIN_YEAR <= y <= _MAX_YEAR or not 1 <= mo <= 12 or not 1 <= d <= _days_in(y, mo):
        raise ValueError("not a time")
    if h > 23 or mi > 59 or s > 60:  # 60: a leap second
        raise ValueError("not a time")
    return t


def _days_in(y, mo):
    if mo == 2:
        return 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28
    return 30 if mo in (4, 6, 9, 11) else 31


def from_http_date(v):
    """An HTTP Date header value (IMF-fixdate, "Sun, 06 Nov 1994 08:49:37
    GMT", RFC 9110 5.6.7) as "YYYY-MM-DDTHH:MM:SSZ"; ValueError otherwise
    (the obsolete formats are refused: servers must send this one)."""
    if type(v) in (bytes, bytearray):
        try:
            v = bytes(v).decode()
        except UnicodeError:
            raise ValueError("not an HTTP date") from None
    if type(v) is not str or len(v) != 29:
        raise ValueError("not an HTTP date")
    if v[:3] not in _DAYS or v[3:5] != ", " or v[7] != " " or v[11] != " " or v[16] != " " or v[25:] != " GMT":
        raise ValueError("not an HTTP date")
    m = _MONTHS.find(v[8:11])
    if m < 0 or m % 3:
        raise ValueError("not an HTTP date")
    t = "%s-%02d-%sT%sZ" % (v[12:16], m // 3 + 1, v[5:7], v[17:25])
    try:
        return check(t)
    except ValueError:
        raise ValueError("not an HTTP date") from None


def _path():
    from sbd import _fs

    return _fs.STATE_DIR + "/" + NAME


def _stored():
    from sbd import _fs

    try:
        data = _fs.read_bounded(_path(), 20)
    except OSError:
        return None
    if data is None or len(data) != 20:
        return None
    try:
        return check(data.decode())
    except (ValueError, UnicodeError):
        return None  # damaged: rule 4


def newest():
    """The newest trusted time seen, never before FLOOR."""
    t = _stored()
    return t if t is not None and t > FLOOR else FLOOR


def advance(t):
    """Take a trusted time; return the newest one now (rules 1, 2)."""
    check(t)
    cur = _stored()
    if cur is not None and t <= cur:
        return cur if cur > FLOOR else FLOOR
    from sbd import _fs

    _fs.makedirs(_fs.STATE_DIR)
    _fs.write_atomic(_path(), t.encode())
    return t if t > FLOOR else FLOOR


def advance_http_date(v):
    """advance() with an HTTP Date header value.  Only for a response from a
    server whose certificate chain and name were verified."""
    return advance(from_http_date(v))


def adopt(path):
    """Fold a clock file an earlier SDK kept elsewhere (sbd.ota's own,
    /.sbd/state/ota/clock) into this one, then remove it.  Its time is
    taken as advance() takes one; a time laid out right that this module
    cannot hold (no such day, past the supported years) becomes the next
    one it can, so the clock never goes back; a damaged file is dropped.  A
    power cut before the removal leaves the file for the next call (taking
    it again changes nothing)."""
    import os

    from sbd import _fs

    try:
        data = _fs.read_bounded(path, 20)
    except OSError:
        return  # unreadable now: left for the next call
    if data is None:
        return
    try:
        t = data.decode()
        try:
            advance(t)
        except ValueError:
            y = _fields(t)[0] + 1
            if y > _MAX_YEAR:
                advance(LAST)
            elif y >= _MIN_YEAR:
                advance("%04d-01-01T00:00:00Z" % y)
    except (UnicodeError, ValueError):
        pass  # damaged: as absent (rule 4)
    try:
        os.remove(path)
    except OSError:
        pass
