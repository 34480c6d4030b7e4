# sbd.validate._scan: the pre-scan parse_json runs before json.loads.
#
# scan(b, n, max_depth, max_values) walks the bytes once without allocating.
# Returns 4 * (number of ':' outside strings, i.e. object members)
#   + 2 if a string holds a byte above 0x7f (so the UTF-8 must be checked:
#       MicroPython's json accepts overlong forms such as C0 AF for "/",
#       surrogates and code points above U+10FFFF; CPython's refuses them)
#   + 1 if a string holds a backslash or 0x7f (so text may hold a control
#       character and the schema must look);
# or below zero:
#   _E_SYNTAX  unterminated string, unbalanced brackets, a raw byte below
#              0x20 in a string (JSON forbids it; MicroPython's json would
#              accept it, CPython's does not: both runtimes must agree)
#   _E_DEPTH   more than max_depth nested containers (stops at once)
#   _E_VALUES  more than max_values values; values are counted as
#              commas + opening brackets + 1, an upper bound (stops at once).
# Two implementations with identical results: a viper one (about 10x faster
# than json.loads itself) compiled at first use where the port has a native
# emitter, and the portable one below.  The viper one is used only after it
# agrees with the portable one on a self-test.

import sys

from micropython import const

_E_SYNTAX = const(-1)
_E_DEPTH = const(-2)
_E_VALUES = const(-3)


def scan_py(b, n, lim_d, lim_v):
    i = 0
    d = 0
    v = 1
    col = 0
    ctl = 0
    hi = 0
    find = b.find
    while i < n:
        c = b[i]
        if c == 34:  # '"': jump to the closing quote not escaped by '\'
            j = find(b'"', i + 1)
            while j > 0 and b[j - 1] == 92:
                k = j - 2
                while b[k] == 92:  # stops at b[i] == '"' at the latest
                    k -= 1
                if not (j - 1 - k) & 1:
                    break
                j = find(b'"', j + 1)
            if j < 0:
                return _E_SYNTAX
            if j > i + 1:
                t = b[i + 1:j]
                if min(t) < 32:  # JSON forbids raw control bytes in strings
                    return _E_SYNTAX
                if not ctl and (b"\\" in t or b"\x7f" in t):
                    ctl = 1
                if not hi and max(t) > 127:
                    hi = 2
            i = j
        elif c == 91 or c == 123:  # [ {
            d += 1
            v += 1
            if d > lim_d:
                return _E_DEPTH
            if v > lim_v:
                return _E_VALUES
        elif c == 93 or c == 125:  # ] }
            d -= 1
            if d < 0:
                return _E_SYNTAX
        elif c == 44:  # ,
            v += 1
            if v > lim_v:
                return _E_VALUES
        elif c == 58:  # :
            col += 1
        i += 1
    if d:
        return _E_SYNTAX
    return col * 4 + hi + ctl


_VIPER_SRC = """
import micropython
@micropython.viper
def scan(b, n: int, lim_d: int, lim_v: int) -> int:
    p = ptr8(b)
    i = 0
    d = 0
    v = 1
    col = 0
    ctl = 0
    hi = 0
    while i < n:
        c = p[i]
        if c == 34:
            i += 1
            while i < n:
                c = p[i]
                if c == 34:
                    break
                if c == 92:
                    ctl = 1
                    i += 1
                elif c < 32:
                    return -1
                elif c == 127:
                    ctl = 1
                elif c > 127:
                    hi = 2
                i += 1
            if i >= n:
                return -1
        elif c == 91 or c == 123:
            d += 1
            v += 1
            if d > lim_d:
                return -2
            if v > lim_v:
                return -3
        elif c == 93 or c == 125:
            d -= 1
            if d < 0:
                return -1
        elif c == 44:
            v += 1
            if v > lim_v:
                return -3
        elif c == 58:
            col += 1
        i += 1
    if d != 0:
        return -1
    return col * 4 + hi + ctl
"""

_SELF_TEST = (
    b'{"a":[1,{"b":"]\\\\"},"c\\"d:,[{"],"e":2}',
    b'[[[[1]]]]',
    b'[1,2,3,4,5,6,7,8,9,10]',
    b'{"a":"\\\\\\"',
    b'"abc\\',
    b'["a\x01b","\x7f",{"k\\n":"v"}]',
    b'["\x7f","\\"]',
    b'["plain","text"]',
    b'{"caf\xc3\xa9":"\xc0\xaf","\\":"\xff"}',
    b'{"x":1}]',
    b'',
)



def _viper():
    g = {}
    exec(_VIPER_SRC, g)  # a constant source: no input ever reaches exec
    fn = g["scan"]
    for t in _SELF_TEST:
        for lim in ((2, 5), (8, 100), (1, 2)):
            if fn(t, len(t), lim[0], lim[1]) != scan_py(t, len(t), lim[0], lim[1]):
                return None
    return fn


def best():
    """The viper scan if this port compiles it and it passes the self-test."""
    if sys.implementation.name != "micropython":
        return scan_py
    try:
        return _viper() or scan_py
    except Exception:  # no compiler or no native emitter on this port
        return scan_py
