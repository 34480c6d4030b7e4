# sbd.validate._more: the rarely used paths of sbd.validate, imported by the
# constructors of the specs that need them (at schema build time), so that an
# app whose schemas use only text, numbers, booleans, enums, lists and objects
# that reject unknown fields never pays RAM for them:
#   - text(prefix=..., check=...);
#   - hexbytes() and b64bytes() (and binascii);
#   - obj(unknown=DROP or KEEP).
# The spec tuple layout is the one sbd.validate documents; the indices below
# mirror its private constants.
import binascii

from micropython import const

from sbd.validate import DROP, _Fail

_A = const(3)
_B = const(4)
_E = const(7)
_F = const(8)
_HEX = const(8)

_B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def check_text_more(s, x):
    p = s[_E]
    if p is not None:
        for q in p:
            if x.startswith(q):
                break
        else:
            raise _Fail("does not start with " + " or ".join(p))
    c = s[_F]
    if c is not None:
        try:
            r = c(x)
        except ValueError:
            r = "rejected by check"
        if r:
            raise _Fail(r)


def check_bytes(s, x, k):
    n = len(x)
    if k == _HEX:
        if n & 1:
            raise _Fail("not hex")
        m = n >> 1
    else:
        if n & 3:
            raise _Fail("not base64")
        m = (n >> 2) * 3 - (2 if x.endswith("==") else 1 if x.endswith("=") else 0)
    # Lengths first, from the text: never decode more than the bound.
    if m < s[_A]:
        raise _Fail("shorter than %d bytes" % s[_A])
    if m > s[_B]:
        raise _Fail("longer than %d bytes" % s[_B])
    if k == _HEX:
        try:
            return binascii.unhexlify(x)
        except ValueError:
            raise _Fail("not hex")
    # base64: the alphabet checked first (a2b_base64 skips unknown characters),
    # then canonical form (no stray bits in the padding), so one byte string has
    # exactly one accepted encoding.
    if x.rstrip("=").strip(_B64_CHARS):
        raise _Fail("not base64")
    try:
        raw = binascii.a2b_base64(x)
    except ValueError:
        raise _Fail("not base64")
    if binascii.b2a_base64(raw)[:-1] != x.encode():
        raise _Fail("not base64")
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
    # obj(unknown=DROP or KEEP): drop the unknown fields, or count the object
    # members they hold (for parse_json's duplicate-key rule).
    names = [f[0] for f in s[_A]]
    drop = s[_B] == DROP
    for k in [k for k in x if k not in names]:
        if drop:
            del x[k]
        elif type(k) is not str:
            raise _Fail("key not a string")
        else:
            ctx[0] += _members(x[k])
