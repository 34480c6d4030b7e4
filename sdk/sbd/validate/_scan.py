# sbd.validate._scan: the pre-scan parse_json runs before json.loads, a
# complete recognizer of strict JSON (RFC 8259) that allocates nothing.
#
# scan(b, n, max_depth, max_values, stack) reads b[0:n] once.  Whatever it
# accepts is strict JSON on which json.loads cannot disagree between
# runtimes (MicroPython's json alone would take `{"a" 1}`, `01`, `[1,]`,
# `"\q"`, four arbitrary bytes after `\u`, overlong UTF-8...):
#   - structure: one value, whitespace (space, tab, LF, CR) around tokens,
#     brackets matched by kind, a colon after every key and nothing else,
#     commas between values and members, never trailing or doubled;
#   - numbers: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? and at most
#     MAX_NUMBER characters (CPython refuses integers above 4300 digits,
#     MicroPython would build them: both refuse anything this long);
#   - literals true, false, null (no NaN, no Infinity);
#   - strings: no raw byte below 0x20; escapes \" \\ \/ \b \f \n \r \t and
#     \u with exactly four hex digits; a \u escape of a high surrogate must
#     be followed at once by a \u escape of a low one, a low one alone is
#     refused; every byte above 0x7f starts well-formed UTF-8 (RFC 3629: no
#     overlong forms, no surrogates, nothing above U+10FFFF).
# and it keeps the bounds parse_json needs before json.loads spends heap:
#   - nesting depth <= max_depth (stack: a bytearray of at least
#     min(max_depth, n) bytes, one per open container);
#   - values <= max_values, counted as commas + opening brackets + 1, an
#     upper bound.
# Result: SCAN_MEMBER * (object members) + SCAN_CTRL (a string holds an
# escape or 0x7f, so text may hold a control character and the schema must
# look) + SCAN_PAIRS (a string holds an escaped surrogate pair, which
# MicroPython's json decodes to CESU-8: join_pairs() rewrites it first);
# or below zero, at the first fault:
#   E_SYNTAX  not strict JSON
#   E_DEPTH   more than max_depth nested containers
#   E_VALUES  more than max_values values
#   E_NUMBER  a number longer than MAX_NUMBER characters
#
# Two implementations with identical bodies (a host test compares the
# source text): scan_viper, used on MicroPython only after it agrees with
# scan_py on a self-test, and scan_py, the reference, used everywhere else.
# scan_viper is @micropython.viper, so this module's .mpy is built for one
# architecture (mpy-cross -march, docs/crypto.md).
import micropython
from micropython import const

E_SYNTAX = const(-1)
E_DEPTH = const(-2)
E_VALUES = const(-3)
E_NUMBER = const(-4)
SCAN_CTRL = const(1)
SCAN_PAIRS = const(2)
SCAN_MEMBER = const(4)  # members are counted in the bits above these two
MAX_NUMBER = const(32)  # the longest float repr is 24 characters, int64 20

# What the recognizer expects next (outside strings).
_VALUE = const(0)  # a value (top level, after ':' or after ',' in a list)
_FIRST_ITEM = const(1)  # a value or ']' (after '[')
_FIRST_KEY = const(2)  # a key or '}' (after '{')
_KEY = const(3)  # a key (after ',' in an object)
_COLON = const(4)  # ':' (after a key)
_AFTER = const(5)  # ',' or a closing bracket, or the end at depth 0


def scan_py(b, n, lim_d, lim_v, st):
    p = b
    s = st
    i = 0
    d = 0
    v = 1
    col = 0
    fl = 0
    want = _VALUE
    while i < n:
        c = p[i]
        i += 1
        if c == 32 or c == 10 or c == 13 or c == 9:
            continue
        if want == _AFTER:
            if c == 44:
                if d == 0:
                    return E_SYNTAX
                v += 1
                if v > lim_v:
                    return E_VALUES
                if s[d - 1] == 123:
                    want = _KEY
                else:
                    want = _VALUE
                continue
            if c == 93 or c == 125:
                if d == 0 or s[d - 1] != c - 2:
                    return E_SYNTAX
                d -= 1
                continue
            return E_SYNTAX
        if want == _COLON:
            if c != 58:
                return E_SYNTAX
            col += 1
            want = _VALUE
            continue
        if c == 34:  # a string
            while True:
                if i >= n:
                    return E_SYNTAX
                c = p[i]
                i += 1
                if c == 34:
                    break
                if c == 92:
                    fl |= SCAN_CTRL
                    if i >= n:
                        return E_SYNTAX
                    c = p[i]
                    i += 1
                    if c == 117:  # \uXXXX, a high surrogate then \uXXXX
                        hs = 0
                        while True:
                            m = i + 4
                            if m > n:
                                return E_SYNTAX
                            u = 0
                            while i < m:
                                c = p[i]
                                i += 1
                                if c >= 48 and c <= 57:
                                    c -= 48
                                elif c >= 97 and c <= 102:
                                    c -= 87
                                elif c >= 65 and c <= 70:
                                    c -= 55
                                else:
                                    return E_SYNTAX
                                u = (u << 4) | c
                            if hs:
                                if u < 0xDC00 or u > 0xDFFF:
                                    return E_SYNTAX
                                fl |= SCAN_PAIRS
                                break
                            if u < 0xD800 or u > 0xDFFF:
                                break
                            if u > 0xDBFF:  # a low surrogate alone
                                return E_SYNTAX
                            if i + 2 > n or p[i] != 92 or p[i + 1] != 117:
                                return E_SYNTAX
                            i += 2
                            hs = 1
                    elif (
                        c != 34 and c != 92 and c != 47 and c != 98 and c != 102 and c != 110 and c != 114 and c != 116
                    ):
                        return E_SYNTAX
                elif c < 32:
                    return E_SYNTAX
                elif c == 127:
                    fl |= SCAN_CTRL
                elif c > 127:  # UTF-8: lead byte, then the range of the next
                    lo = 0x80
                    hi = 0xBF
                    if c >= 0xC2 and c <= 0xDF:
                        k = 1
                    elif c >= 0xE0 and c <= 0xEF:
                        k = 2
                        if c == 0xE0:
                            lo = 0xA0  # overlong
                        elif c == 0xED:
                            hi = 0x9F  # surrogates
                    elif c >= 0xF0 and c <= 0xF4:
                        k = 3
                        if c == 0xF0:
                            lo = 0x90  # overlong
                        elif c == 0xF4:
                            hi = 0x8F  # above U+10FFFF
                    else:
                        return E_SYNTAX
                    m = i + k
                    if m > n:
                        return E_SYNTAX
                    c = p[i]
                    i += 1
                    if c < lo or c > hi:
                        return E_SYNTAX
                    while i < m:
                        if p[i] & 0xC0 != 0x80:
                            return E_SYNTAX
                        i += 1
            if want == _FIRST_KEY or want == _KEY:
                want = _COLON
            else:
                want = _AFTER
            continue
        if want >= _FIRST_KEY:  # a key must be a string
            if want == _FIRST_KEY and c == 125:
                d -= 1
                want = _AFTER
                continue
            return E_SYNTAX
        if c == 91 or c == 123:
            d += 1
            v += 1
            if d > lim_d:
                return E_DEPTH
            if v > lim_v:
                return E_VALUES
            s[d - 1] = c
            if c == 91:
                want = _FIRST_ITEM
            else:
                want = _FIRST_KEY
            continue
        if c == 93 and want == _FIRST_ITEM:
            d -= 1
            want = _AFTER
            continue
        want = _AFTER
        if c == 45 or (c >= 48 and c <= 57):  # a number
            m = i - 1
            if c == 45:
                if i >= n:
                    return E_SYNTAX
                c = p[i]
                i += 1
            if c == 48:
                pass
            elif c >= 49 and c <= 57:
                while i < n and p[i] >= 48 and p[i] <= 57:
                    i += 1
            else:
                return E_SYNTAX
            if i < n and p[i] == 46:
                i += 1
                if i >= n or p[i] < 48 or p[i] > 57:
                    return E_SYNTAX
                while i < n and p[i] >= 48 and p[i] <= 57:
                    i += 1
            if i < n and (p[i] == 101 or p[i] == 69):
                i += 1
                if i < n and (p[i] == 43 or p[i] == 45):
                    i += 1
                if i >= n or p[i] < 48 or p[i] > 57:
                    return E_SYNTAX
                while i < n and p[i] >= 48 and p[i] <= 57:
                    i += 1
            if i - m > MAX_NUMBER:
                return E_NUMBER
        elif c == 116:
            if i + 3 > n or p[i] != 114 or p[i + 1] != 117 or p[i + 2] != 101:
                return E_SYNTAX
            i += 3
        elif c == 102:
            if i + 4 > n or p[i] != 97 or p[i + 1] != 108 or p[i + 2] != 115 or p[i + 3] != 101:
                return E_SYNTAX
            i += 4
        elif c == 110:
            if i + 3 > n or p[i] != 117 or p[i + 1] != 108 or p[i + 2] != 108:
                return E_SYNTAX
            i += 3
        else:
            return E_SYNTAX
    if want != _AFTER or d != 0:
        return E_SYNTAX
    return col * SCAN_MEMBER + fl


@micropython.viper
def scan_viper(b, n: int, lim_d: int, lim_v: int, st) -> int:
    p = ptr8(b)  # noqa: F821 (a viper builtin)
    s = ptr8(st)  # noqa: F821
    i = 0
    d = 0
    v = 1
    col = 0
    fl = 0
    want = _VALUE
    while i < n:
        c = p[i]
        i += 1
        if c == 32 or c == 10 or c == 13 or c == 9:
            continue
        if want == _AFTER:
            if c == 44:
                if d == 0:
                    return E_SYNTAX
                v += 1
                if v > lim_v:
                    return E_VALUES
                if s[d - 1] == 123:
                    want = _KEY
                else:
                    want = _VALUE
                continue
            if c == 93 or c == 125:
                if d == 0 or s[d - 1] != c - 2:
                    return E_SYNTAX
                d -= 1
                continue
            return E_SYNTAX
        if want == _COLON:
            if c != 58:
                return E_SYNTAX
            col += 1
            want = _VALUE
            continue
        if c == 34:  # a string
            while True:
                if i >= n:
                    return E_SYNTAX
                c = p[i]
                i += 1
                if c == 34:
                    break
                if c == 92:
                    fl |= SCAN_CTRL
                    if i >= n:
                        return E_SYNTAX
                    c = p[i]
                    i += 1
                    if c == 117:  # \uXXXX, a high surrogate then \uXXXX
                        hs = 0
                        while True:
                            m = i + 4
                            if m > n:
                                return E_SYNTAX
                            u = 0
                            while i < m:
                                c = p[i]
                                i += 1
                                if c >= 48 and c <= 57:
                                    c -= 48
                                elif c >= 97 and c <= 102:
                                    c -= 87
                                elif c >= 65 and c <= 70:
                                    c -= 55
                                else:
                                    return E_SYNTAX
                                u = (u << 4) | c
                            if hs:
                                if u < 0xDC00 or u > 0xDFFF:
                                    return E_SYNTAX
                                fl |= SCAN_PAIRS
                                break
                            if u < 0xD800 or u > 0xDFFF:
                                break
                            if u > 0xDBFF:  # a low surrogate alone
                                return E_SYNTAX
                            if i + 2 > n or p[i] != 92 or p[i + 1] != 117:
                                return E_SYNTAX
                            i += 2
                            hs = 1
                    elif (
                        c != 34 and c != 92 and c != 47 and c != 98 and c != 102 and c != 110 and c != 114 and c != 116
                    ):
                        return E_SYNTAX
                elif c < 32:
                    return E_SYNTAX
                elif c == 127:
                    fl |= SCAN_CTRL
                elif c > 127:  # UTF-8: lead byte, then the range of the next
                    lo = 0x80
                    hi = 0xBF
                    if c >= 0xC2 and c <= 0xDF:
                        k = 1
                    elif c >= 0xE0 and c <= 0xEF:
                        k = 2
                        if c == 0xE0:
                            lo = 0xA0  # overlong
                        elif c == 0xED:
                            hi = 0x9F  # surrogates
                    elif c >= 0xF0 and c <= 0xF4:
                        k = 3
                        if c == 0xF0:
                            lo = 0x90  # overlong
                        elif c == 0xF4:
                            hi = 0x8F  # above U+10FFFF
                    else:
                        return E_SYNTAX
                    m = i + k
                    if m > n:
                        return E_SYNTAX
                    c = p[i]
                    i += 1
                    if c < lo or c > hi:
                        return E_SYNTAX
                    while i < m:
                        if p[i] & 0xC0 != 0x80:
                            return E_SYNTAX
                        i += 1
            if want == _FIRST_KEY or want == _KEY:
                want = _COLON
            else:
                want = _AFTER
            continue
        if want >= _FIRST_KEY:  # a key must be a string
            if want == _FIRST_KEY and c == 125:
                d -= 1
                want = _AFTER
                continue
            return E_SYNTAX
        if c == 91 or c == 123:
            d += 1
            v += 1
            if d > lim_d:
                return E_DEPTH
            if v > lim_v:
                return E_VALUES
            s[d - 1] = c
            if c == 91:
                want = _FIRST_ITEM
            else:
                want = _FIRST_KEY
            continue
        if c == 93 and want == _FIRST_ITEM:
            d -= 1
            want = _AFTER
            continue
        want = _AFTER
        if c == 45 or (c >= 48 and c <= 57):  # a number
            m = i - 1
            if c == 45:
                if i >= n:
                    return E_SYNTAX
                c = p[i]
                i += 1
            if c == 48:
                pass
            elif c >= 49 and c <= 57:
                while i < n and p[i] >= 48 and p[i] <= 57:
                    i += 1
            else:
                return E_SYNTAX
            if i < n and p[i] == 46:
                i += 1
                if i >= n or p[i] < 48 or p[i] > 57:
                    return E_SYNTAX
                while i < n and p[i] >= 48 and p[i] <= 57:
                    i += 1
            if i < n and (p[i] == 101 or p[i] == 69):
                i += 1
                if i < n and (p[i] == 43 or p[i] == 45):
                    i += 1
                if i >= n or p[i] < 48 or p[i] > 57:
                    return E_SYNTAX
                while i < n and p[i] >= 48 and p[i] <= 57:
                    i += 1
            if i - m > MAX_NUMBER:
                return E_NUMBER
        elif c == 116:
            if i + 3 > n or p[i] != 114 or p[i + 1] != 117 or p[i + 2] != 101:
                return E_SYNTAX
            i += 3
        elif c == 102:
            if i + 4 > n or p[i] != 97 or p[i + 1] != 108 or p[i + 2] != 115 or p[i + 3] != 101:
                return E_SYNTAX
            i += 4
        elif c == 110:
            if i + 3 > n or p[i] != 117 or p[i + 1] != 108 or p[i + 2] != 108:
                return E_SYNTAX
            i += 3
        else:
            return E_SYNTAX
    if want != _AFTER or d != 0:
        return E_SYNTAX
    return col * SCAN_MEMBER + fl


def _hex4(b, i):
    u = 0
    for c in b[i : i + 4]:
        u = (u << 4) | (c - 48 if c < 58 else (c | 0x20) - 87)
    return u


def join_pairs(b, n):
    """b[0:n], accepted by a scan that reported SCAN_PAIRS, with every escaped
    surrogate pair written as the 4-byte UTF-8 of its code point: the same
    JSON text, which MicroPython's json then decodes as CPython's does (alone
    it decodes each half to three bytes, CESU-8, two characters in all)."""
    if type(b) is not bytes and type(b) is not bytearray:
        b = bytes(b[:n])  # a memoryview has no find()
    out = bytearray()
    find = b.find
    i = 0
    j = find(b"\\", 0, n)
    while j >= 0:
        k = j + 2  # any escape but a surrogate pair: keep its two bytes
        if b[j + 1] == 117:  # the scan paired every \uD800-\uDBFF with a low one
            u = _hex4(b, k)
            if u >= 0xD800 and u <= 0xDBFF:
                u = ((u - 0xD800) << 10) + _hex4(b, j + 8) - 0xDC00 + 0x10000
                out += b[i:j]
                out.append(0xF0 | (u >> 18))
                out.append(0x80 | ((u >> 12) & 0x3F))
                out.append(0x80 | ((u >> 6) & 0x3F))
                out.append(0x80 | (u & 0x3F))
                i = j + 12
                k = i
        j = find(b"\\", k, n)
    out += b[i:n]
    return out


_SELF_TEST = (
    b'{"a":[1,{"b":"]\\\\"},"c\\"d",[{"x":-0.5e+3}],true],"e":2,"f":null,"g":false}',
    b" [ [[[1 ]]] ] ",
    b"[1,2,3,4,5,6,7,8,9,10]",
    b'{"a":"\\\\\\"',
    b'"abc\\',
    b'["a\x01b","\x7f",{"k\\n":"v"}]',
    b'["\\ud83d\\ude00","\\u00e9\\uD800"]',
    b'["\\udc00"]',
    b'{"caf\xc3\xa9":"\xe2\x82\xac\xf0\x9f\x98\x80","x":"\xc0\xaf"}',
    b'["\xed\xa0\x80"]',
    b'["\xf4\x90\x80\x80"]',
    b'["\\uabc\\"]',
    b'{"a" 1,"b":2}',
    b"[01]",
    b"[1.]",
    b"[1,]",
    b'{"a":1,"b"}',
    b'{"x":1}]',
    b"[" + b"1" * 33 + b"]",
    b'"\\q"',
    b"tru",
    b"",
)


def _self_test(fn):
    st = bytearray(16)
    try:
        for t in _SELF_TEST:
            for lim in ((2, 5), (8, 100), (1, 2)):
                if fn(t, len(t), lim[0], lim[1], st) != scan_py(t, len(t), lim[0], lim[1], st):
                    return False
        return True
    except Exception:  # viper unusable on this port: fall back
        return False


def best():
    """scan_viper on MicroPython if it passes the self-test, else scan_py."""
    import sys

    if sys.implementation.name == "micropython" and _self_test(scan_viper):
        return scan_viper
    return scan_py
