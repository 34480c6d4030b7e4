# sbd.identity._record: reading a factory record's bytes (the schema, the
# parse, the tag check).  Needed once per boot, by load(): kept apart from
# sbd.identity, which unloads it again with sbd.validate, so the code that
# stays in the heap is the Identity and the functions a running device calls.
# The format and rules are in sbd/identity/__init__.py.
from micropython import const

from sbd.identity import (
    HEADER_LEN,
    ITERATIONS_MAX,
    ITERATIONS_MIN,
    MAGIC,
    MAX_BODY,
    ROOT_KEY_LEN,
    TAG_LEN,
    VERSION,
    Identity,
    RecordInvalid,
    WrongBoard,
    mac_key,
)

_SALT_MIN = const(16)
_SALT_MAX = const(32)


def schema():
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


def parse_body(body, err):
    from sbd import validate as v

    try:
        return v.parse_json(body, schema(), max_bytes=MAX_BODY, name="record")
    except v.ValidationError as e:
        raise err("factory record: %s" % e) from None


def _tag_ok(key, uid, signed, tag):
    from sbd.crypto import BadMAC
    from sbd.crypto.hmac import verify_hmac_sha256

    try:
        verify_hmac_sha256(mac_key(key, uid), signed, tag)
    except BadMAC:
        return False
    return True


def decode(data, uid, after_parse=None):
    """Check a record's bytes against this board's unique id (rules 2-5).
    after_parse: called once the body is parsed, before the tag is checked
    (load() unloads sbd.validate there, so the crypto loads into its room)."""
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
    if after_parse is not None:
        after_parse()
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
