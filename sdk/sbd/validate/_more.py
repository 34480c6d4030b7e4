# sbd.validate._more: the rarely used paths of sbd.validate, imported by the
# constructors of the specs that need them (at schema build time), so that an
# app whose schemas use only text, numbers, booleans, enums, lists and objects
# that reject unknown fields never pays RAM for them:
#   - text(prefix=..., check=...);
#   - hexbytes() and b64bytes() (and binascii);
#   - obj(unknown=DROP or KEEP).
# The spec tuple layout is the one sbd.validate names.
import binascii

from sbd.validate import BYTES_MAX, BYTES_MIN, DROP, K_HEX, OBJ_FIELDS, OBJ_UNKNOWN, TEXT_CHECK, TEXT_PREFIX, Fail

_B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def check_text_more(s, x):
    p = s[TEXT_PREFIX]
    if p is not None:
        for q in p:
            if x.startswith(q):
                break
        else:
            raise Fail("does not start with " + " or ".join(p))
    c = s[TEXT_CHECK]
    if c is not None:
        try:
            r = c(x)
        except ValueError:
            r = "rejected by check"
        if r:
            raise Fail(r)


def check_bytes(s, x, k):
    n = len(x)
    if k == K_HEX:
        if n & 1:
            raise Fail("not hex")
        m = n >> 1
    else:
        if n & 3:
            raise Fail("not base64")
        m = (n >> 2) * 3 - (2 if x.endswith("==") else 1 if x.endswith("=") else 0)
    # Lengths first, from the text: never decode more than the bound.
    if m < s[BYTES_MIN]:
        raise Fail("shorter than %d bytes" % s[BYTES_MIN])
    if m > s[BYTES_MAX]:
        raise Fail("longer than %d bytes" % s[BYTES_MAX])
    if k == K_HEX:
        # The alphabet first: MicroPython's unhexlify skips whitespace.
        if x.strip("0123456789abcdefABCDEF"):
            raise Fail("not hex")
        try:
            return binascii.unhexlify(x)
        except ValueError:
            raise Fail("not hex")
    # base64: the alphabet checked first (a2b_base64 skips unknown characters),
    # then canonical form (no stray bits in the padding), so one byte string has
    # exactly one accepted encoding.
    if x.rstrip("=").strip(_B64_CHARS):
        raise Fail("not base64")
    try:
        raw = binascii.a2b_base64(x)
    except ValueError:
        raise Fail("not base64")
    if binascii.b2a_base64(raw)[:-1] != x.encode():
        raise Fail("not base64")
    return raw


def _members(x):
    # Object members in an unchecked (KEEP) subtree, for the duplicate-key
    # rule; depth is bounded by the pre-scan.
    n = 0
    if type(x) is dict:
        n = len(x)
        for v in x.values():
            n += _members(v)
    elif type(x) is list:
        for v in x:
            n += _members(v)
    return n


def unknown_kept(s, x, ctx):
    # obj(unknown=DROP or KEEP): drop or keep the unknown fields.
    names = [f[0] for f in s[OBJ_FIELDS]]
    drop = s[OBJ_UNKNOWN] == DROP
    for k in [k for k in x if k not in names]:
        if not drop and type(k) is not str:
            raise Fail("key not a string")
        # Count the members a dropped or kept value holds (parse_json's
        # duplicate-key rule), then drop it.
        ctx[0] += _members(x[k])
        if drop:
            del x[k]
