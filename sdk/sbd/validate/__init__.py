# sbd.validate: declarative schemas and bounded parsing for every input.
#
# UK Code of Practice 13 / ETSI EN 303 645 5.13 ("validate input data").
#
# A schema is plain data built once at import: each spec is a small tuple made
# by the constructors below (integer, number, boolean, text, hexbytes,
# b64bytes, one_of, list_of, obj).  validate() checks a value against it;
# parse_json() bounds the raw bytes first.  Rules enforced, in order:
#
#   parse_json
#     1. size: len(data) <= max_bytes, before anything else is done;
#     2. a pre-scan (no allocation) of the bytes: strings terminated, brackets
#        balanced, nesting depth <= the schema's depth, number of values <=
#        what the schema can accept; so json.loads never sees a document that
#        could spend the heap on depth or breadth the schema would reject;
#     3. json.loads; any parse error is "not valid JSON", and so is text
#        that is not well-formed UTF-8 (checked when a string holds a byte
#        above 0x7f: MicroPython's json alone accepts overlong forms);
#     4. the schema (below);
#     5. no duplicate keys: the object members the pre-scan counted must all
#        be present after parsing (json.loads keeps only the last duplicate).
#   schema
#     null only where nullable; exact types (a bool is never an int, an int is
#     accepted for a number); int and number ranges (numbers must be finite);
#     text, bytes and list lengths; text without control characters unless
#     allowed; character classes, prefixes, enums; required and optional
#     fields with defaults; unknown fields rejected unless the object says
#     DROP or KEEP.
#
# Every rejection raises ValidationError, the only error an input can cause,
# carrying the path and the rule ("config.wifi.ssid: longer than 32") and
# calls the reject hook with (path, rule): never the value.  Validation is
# done in place: the value returned is the input object itself, normalized
# (defaults filled in, numbers as float, bytes decoded, dropped fields gone).
# No assert anywhere: it vanishes at opt level 1 and above.
#
# Submodules, each imported only when needed so an app pays RAM for what it
# uses: _scan and _utf8 (the pre-scan and the UTF-8 check, at the first
# parse_json); _more (text prefix/check, hex and base64, DROP/KEEP objects:
# imported by those constructors); form (query strings and form bodies) and
# layout (fixed binary records), imported by the app.
import sys

from micropython import const

# Spec tuple layout: (kind, flags, default, ...kind-specific)
_K = const(0)
_FLAGS = const(1)
_DEFAULT = const(2)
_A = const(3)
_B = const(4)
_C = const(5)
_D = const(6)
_E = const(7)
_F = const(8)

_STR = const(1)
_INT = const(2)
_OBJ = const(3)
_LIST = const(4)
_BOOL = const(5)
_FLOAT = const(6)
_ENUM = const(7)
_HEX = const(8)
_B64 = const(9)

_OPT = const(1)
_NULL = const(2)
_HASDEF = const(4)
_CTRL = const(8)

# Unknown-field policies of obj().
REJECT = const(0)
DROP = const(1)
KEEP = const(2)

_I32_MIN = const(-2147483648)
_I32_MAX = const(2147483647)
_DEFAULT_TEXT_MAX = const(64)
_DEFAULT_BYTES_MAX = const(64)
_DEFAULT_ITEMS_MAX = const(16)
# parse_json defaults: documents larger than this need an explicit bound,
# and KEEP objects (whose depth the schema does not know) this depth.
DEFAULT_MAX_BYTES = const(2048)
_DEFAULT_MAX_DEPTH = const(8)
_DEFAULT_MAX_VALUES = const(256)
_UNBOUNDED = const(0x3FFFFFFF)

# Pre-scan results below zero.
_E_DEPTH = const(-2)
_E_VALUES = const(-3)

# Character classes for text(chars=...): ranges like "A-Z", a final "-" is literal.
DIGITS = "0-9"
HEX = "0-9a-fA-F"
ALNUM = "A-Za-z0-9"
IDENT = "A-Za-z0-9_-"
HOSTNAME = "A-Za-z0-9.-"
PRINTABLE = " -~"

_CPYTHON = sys.implementation.name != "micropython"

# Module-level aliases: a builtin lookup misses the module dict first, and the
# checks below run once per value.
_type = type
_len = len
_min = min
_str = str
_int = int
_float = float
_dict = dict
_list = list


# The absent default: a bare object, cheaper than a class.
_MISSING = object()


class ValidationError(ValueError):
    """The one error an input can cause.  .path and .rule name what and why."""

    def __init__(self, path, rule):
        super().__init__(path + ": " + rule)
        self.path = path
        self.rule = rule


class _Fail(Exception):
    # Internal: raised at the failing value, gathers the path on its way up.
    def __init__(self, rule):
        self.rule = rule
        self.segs = []


def _noop(path, rule):
    pass


_hook = _noop


def set_reject_hook(fn):
    """Call fn(path, rule) on every rejected input (None: no hook).

    This is the `validation.rejected` event; the value is never passed.  An
    exception raised by the hook is ignored so it cannot mask the rejection.
    """
    global _hook
    _hook = fn if fn is not None else _noop


def _path(name, segs):
    i = len(segs)
    if not i:
        return name
    parts = [name]
    while i:
        i -= 1
        s = segs[i]
        parts.append("[%d]" % s if type(s) is int else "." + s)
    return "".join(parts)


def _reject(name, rule, segs=()):
    path = _path(name, segs)
    try:
        _hook(path, rule)
    except Exception:  # a broken telemetry hook must not hide the rejection
        pass
    raise ValidationError(path, rule)


# ---- schema constructors ------------------------------------------------------

def _flags(optional, default, nullable):
    f = 0
    if optional or default is not _MISSING:
        f |= _OPT
    if default is not _MISSING:
        f |= _HASDEF
        if isinstance(default, (list, dict, bytearray)):
            # Validation works in place: a mutable default would be shared.
            raise TypeError("default must be immutable")
    if nullable:
        f |= _NULL
    return f


def _checked(spec):
    # A default must itself pass the spec: catches schema bugs at import.
    if spec[_FLAGS] & _HASDEF:
        d = spec[_DEFAULT]
        try:
            _check(spec, d, [0, 1])
        except _Fail as e:
            raise ValueError("bad default: " + e.rule)
    return spec


def _bounds(lo, hi, what):
    if lo > hi or lo < 0:
        raise ValueError("bad " + what + " bounds")


def integer(lo=_I32_MIN, hi=_I32_MAX, *, optional=False, default=_MISSING, nullable=False):
    """An int in [lo, hi] (default: the int32 range).  Booleans are rejected."""
    if lo > hi:
        raise ValueError("bad integer bounds")
    return _checked((_INT, _flags(optional, default, nullable), default, lo, hi))


def number(lo=None, hi=None, *, optional=False, default=_MISSING, nullable=False):
    """A finite float in [lo, hi]; an int is accepted and returned as float."""
    if lo is not None and hi is not None and lo > hi:
        raise ValueError("bad number bounds")
    return _checked((_FLOAT, _flags(optional, default, nullable), default, lo, hi))


def boolean(*, optional=False, default=_MISSING, nullable=False):
    return _checked((_BOOL, _flags(optional, default, nullable), default))


def _expand(cls):
    # "A-Z0-9_-" -> every character it names.  ASCII only: the check uses
    # str.strip, which compares bytes on MicroPython.
    out = []
    i = 0
    n = len(cls)
    while i < n:
        c = cls[i]
        if ord(c) > 126 or ord(c) < 32:
            raise ValueError("character classes are printable ASCII")
        if i + 2 < n and cls[i + 1] == "-":
            a = ord(c)
            b = ord(cls[i + 2])
            if b < a or b > 126:
                raise ValueError("bad range in character class")
            for o in range(a, b + 1):
                out.append(chr(o))
            i += 3
        else:
            out.append(c)
            i += 1
    # str.strip searches the class linearly for every character: put the
    # common characters first (lower case, digits), the rest after.
    first = [c for c in out if "a" <= c <= "z" or "0" <= c <= "9"]
    return "".join(first + [c for c in out if c not in first])


def text(min_len=0, max_len=_DEFAULT_TEXT_MAX, *, chars=None, prefix=None, check=None,
         allow_control=False, optional=False, default=_MISSING, nullable=False):
    """A str of min_len..max_len characters.

    chars: a character class ("A-Z0-9_-", or DIGITS, HEX, IDENT, HOSTNAME,
    PRINTABLE) every character must belong to.  prefix: a str or tuple of str
    the value must start with.  check: fn(value) returning None, or a rule
    string to reject with.  Control characters (below U+0020, and U+007F) are
    rejected unless allow_control.
    """
    _bounds(min_len, max_len, "length")
    if type(prefix) is str:
        prefix = (prefix,)
    f = _flags(optional, default, nullable)
    if allow_control:
        f |= _CTRL
    if prefix is not None or check is not None:
        _need_more()
    return _checked((_STR, f, default, min_len, max_len,
                     _expand(chars) if chars else None, chars, prefix, check))


def hexbytes(min_len=0, max_len=_DEFAULT_BYTES_MAX, *, optional=False, default=_MISSING, nullable=False):
    """Bytes sent as a hex string; lengths in bytes; returns bytes."""
    _bounds(min_len, max_len, "length")
    _need_more()
    return _checked((_HEX, _flags(optional, default, nullable), default, min_len, max_len))


def b64bytes(min_len=0, max_len=_DEFAULT_BYTES_MAX, *, optional=False, default=_MISSING, nullable=False):
    """Bytes sent as canonical padded base64; lengths in bytes; returns bytes."""
    _bounds(min_len, max_len, "length")
    _need_more()
    return _checked((_B64, _flags(optional, default, nullable), default, min_len, max_len))


def one_of(*values, optional=False, default=_MISSING, nullable=False):
    """One of the given values, all str or all int (True and 1.0 never match 1)."""
    if not values:
        raise ValueError("one_of needs values")
    t = type(values[0])
    for v in values:
        if type(v) is not t or t not in (str, int):
            raise TypeError("one_of values are all str or all int")
    return _checked((_ENUM, _flags(optional, default, nullable), default, values,
                     ", ".join([str(v) for v in values]), t))


def list_of(item, min_items=0, max_items=_DEFAULT_ITEMS_MAX, *, optional=False, default=_MISSING,
            nullable=False):
    """A list of min_items..max_items values, each checked against item."""
    _bounds(min_items, max_items, "item")
    depth = 1 + _depth(item)
    weight = min(_UNBOUNDED, 2 + max_items * _weight(item))
    return _checked((_LIST, _flags(optional, default, nullable), default, item, min_items, max_items,
                     depth, weight))


def obj(fields, unknown=REJECT, *, optional=False, default=_MISSING, nullable=False):
    """An object with the given {name: spec} fields, checked in name order.

    unknown: REJECT (default) an unknown field, DROP it from the result, or
    KEEP it unchecked (its depth is then bounded only by parse_json's
    max_depth).
    """
    if unknown not in (REJECT, DROP, KEEP):
        raise ValueError("bad unknown-field policy")
    names = sorted(fields)
    items = tuple([(k, fields[k]) for k in names])
    depth = 0
    weight = 2
    for k, s in items:
        if type(k) is not str:
            raise TypeError("field names are str")
        depth = max(depth, _depth(s))
        weight += _weight(s)
    if unknown != REJECT:
        _need_more()
        depth = _UNBOUNDED
        weight = _UNBOUNDED
    return _checked((_OBJ, _flags(optional, default, nullable), default, items, unknown,
                     min(_UNBOUNDED, depth + 1), min(_UNBOUNDED, weight)))


def _depth(s):
    k = s[_K]
    if k == _OBJ:
        return s[_C]
    if k == _LIST:
        return s[_D]
    return 0


def _weight(s):
    k = s[_K]
    if k == _OBJ:
        return s[_D]
    if k == _LIST:
        return s[_E]
    return 1


# ---- checking -------------------------------------------------------------------

def _check(s, x, ctx):
    # ctx: [object members seen, 1 if strings may hold control characters].
    # parse_json's pre-scan tells it the second; the members feed its
    # duplicate-key rule.  None is handled on the failure paths (nullable).
    k = s[_K]
    if k == _STR:
        if _type(x) is not _str:
            return _wrong(s, x, "not a string")
        n = _len(x)
        if n < s[_A]:
            raise _Fail("shorter than %d" % s[_A])
        if n > s[_B]:
            raise _Fail("longer than %d" % s[_B])
        c = s[_C]
        if c is not None:
            if x.strip(c):
                raise _Fail("character outside " + s[_D])
        elif ctx[1] and n and not s[_FLAGS] & _CTRL:
            b = x.encode()  # min() over bytes is 5x faster than over a str
            if _min(b) < 32 or 127 in b:
                raise _Fail("control character")
        if s[_E] is not None or s[_F] is not None:
            _check_text_more(s, x)
        return x
    if k == _INT:
        if _type(x) is not _int:
            return _wrong(s, x, "not an integer")
        if x < s[_A]:
            raise _Fail("below %d" % s[_A])
        if x > s[_B]:
            raise _Fail("above %d" % s[_B])
        return x
    if k == _OBJ:
        if _type(x) is not _dict:
            return _wrong(s, x, "not an object")
        return _check_obj(s, x, ctx)
    if k == _BOOL:
        if x is True or x is False:
            return x
        return _wrong(s, x, "not a boolean")
    if k == _ENUM:
        # One value type per enum, so `in` is exact: True never matches 1.
        if _type(x) is s[_C] and x in s[_A]:
            return x
        return _wrong(s, x, "not one of " + s[_B])
    if k == _LIST:
        if _type(x) is not _list:
            return _wrong(s, x, "not a list")
        return _check_list(s, x, ctx)
    if k == _FLOAT:
        t = _type(x)
        if t is _int:
            try:
                x = float(x)
            except OverflowError:  # CPython: an int too large for a float
                raise _Fail("not finite")
        elif t is not _float:
            return _wrong(s, x, "not a number")
        if x - x != 0.0:  # nan and +-inf
            raise _Fail("not finite")
        if s[_A] is not None and x < s[_A]:
            raise _Fail("below " + str(s[_A]))
        if s[_B] is not None and x > s[_B]:
            raise _Fail("above " + str(s[_B]))
        return x
    if k == _HEX or k == _B64:
        if _type(x) is not _str:
            return _wrong(s, x, "not a string")
        return _check_bytes(s, x, k)
    raise TypeError("not a schema")


def _wrong(s, x, rule):
    if x is None:
        if s[_FLAGS] & _NULL:
            return None
        raise _Fail("null")
    raise _Fail(rule)


def _check_list(s, x, ctx):
    n = _len(x)
    if n < s[_B]:
        raise _Fail("fewer than %d items" % s[_B])
    if n > s[_C]:
        raise _Fail("more than %d items" % s[_C])
    it = s[_A]
    i = 0
    try:
        while i < n:
            v = x[i]
            r = _check(it, v, ctx)
            if r is not v:
                x[i] = r
            i += 1
    except _Fail as e:
        e.segs.append(i)
        raise
    return x


def _check_obj(s, x, ctx):
    n = _len(x)
    ctx[0] += n
    seen = 0
    name = None
    try:
        for name, fs in s[_A]:
            if name not in x:
                f = fs[_FLAGS]
                if not f & _OPT:
                    raise _Fail("missing")
                if f & _HASDEF:
                    x[name] = fs[_DEFAULT]
                continue
            seen += 1
            v = x[name]
            r = _check(fs, v, ctx)
            if r is not v:
                x[name] = r
    except _Fail as e:
        e.segs.append(name)
        raise
    if seen < n:  # defaults were added after n was taken
        _unknown(s, x, ctx)
    return x


_SAFE_KEY = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."


def _unknown_rule(key):
    # Name the field only when it is short and plain: the path and rule go to
    # telemetry and logs, and an attacker chooses the key.
    if type(key) is str and 0 < len(key) <= 32 and not key.strip(_SAFE_KEY):
        return "unknown field '" + key + "'"
    return "unknown field"


def _sort_key(k):
    return k if type(k) is str else ""


def _unknown(s, x, ctx):
    if s[_B] != REJECT:
        return _unknown_kept(s, x, ctx)
    names = [f[0] for f in s[_A]]
    extra = [k for k in x if k not in names]
    # Name the first unknown key in code point order: dict order differs
    # between MicroPython and CPython, the message must not.
    extra.sort(key=_sort_key)
    raise _Fail(_unknown_rule(extra[0]))


# The rarely used paths live in sbd.validate._more: text prefixes and check
# functions, hexbytes and b64bytes, objects that DROP or KEEP unknown fields.
# The constructors of those specs import it, so the import happens while the
# app builds its schemas (at start-up, on a fresh heap), never in the middle of
# validating an input; an app whose schemas use none of them never loads it.
_check_text_more = None
_check_bytes = None
_unknown_kept = None


def _need_more():
    global _check_text_more, _check_bytes, _unknown_kept
    if _check_bytes is None:
        from sbd.validate import _more as m

        _check_text_more = m.check_text_more
        _check_bytes = m.check_bytes
        _unknown_kept = m.unknown_kept


# ---- entry points ---------------------------------------------------------------

def validate(value, schema, name="input"):
    """Check value (already decoded, e.g. from json or msgpack) against schema.

    Works in place and returns the normalized value.  The value may be partly
    normalized even when this raises: pass a copy if that matters.
    """
    try:
        return _check(schema, value, [0, 1])
    except _Fail as e:
        _reject(name, e.rule, e.segs)


def parse_json(data, schema, max_bytes=DEFAULT_MAX_BYTES, name="input", max_depth=None,
               max_values=None):
    """Bounded JSON: size, pre-scan, json.loads, schema, duplicate keys.

    data: bytes, bytearray, memoryview or str.  max_depth and max_values
    override the nesting and value-count limits the schema implies; a schema
    with KEEP objects implies none, so 8 and 256 apply unless given.
    """
    t = type(data)
    if t is str:
        if len(data) > max_bytes:  # characters <= bytes: cheap early exit
            _reject(name, "larger than %d bytes" % max_bytes)
        data = data.encode()
    elif t is not bytes and t is not bytearray:
        # A memoryview (the MicroPython way: readinto a buffer allocated once)
        # is scanned and parsed in place by the native scan; the portable scan
        # and CPython's json need a copy.
        if _CPYTHON or _scanner() is not _native_scan:
            data = bytes(data)
    n = len(data)
    if n > max_bytes:
        _reject(name, "larger than %d bytes" % max_bytes)
    depth = max_depth
    if depth is None:
        depth = _depth(schema)
        if depth == _UNBOUNDED:
            depth = _DEFAULT_MAX_DEPTH
    values = max_values
    if values is None:
        values = _weight(schema)
        if values == _UNBOUNDED:
            values = _DEFAULT_MAX_VALUES
    r = _scanner()(data, n, depth, values)
    if r < 0:
        if r == _E_DEPTH:
            _reject(name, "nested deeper than %d" % depth)
        if r == _E_VALUES:
            _reject(name, "more than %d values" % values)
        _reject(name, "not valid JSON")
    if r & 2 and not _utf8_check(data):
        # MicroPython's json takes overlong and surrogate forms (C0 AF is "/");
        # CPython's refuses them: both runtimes must agree, strictly.
        _reject(name, "not valid JSON")
    try:
        if _CPYTHON:
            x = _loads(str(data, "utf-8"), parse_constant=_no_constant)
        else:
            x = _loads(data)
    except ValueError:  # includes UnicodeError and CPython's JSONDecodeError
        x = _MISSING
    if x is _MISSING:
        _reject(name, "not valid JSON")
    ctx = [0, r & 1]
    try:
        x = _check(schema, x, ctx)
    except _Fail as e:
        _reject(name, e.rule, e.segs)
    if ctx[0] != r >> 2:
        # json.loads keeps the last of duplicate keys; every ':' the pre-scan
        # counted must be a member that survived.
        _reject(name, "duplicate key")
    return x


def _no_constant(s):
    raise ValueError("NaN and Infinity are not JSON")


def _loads(s, **kw):
    global _loads
    import json

    _loads = json.loads
    return json.loads(s, **kw)


# ---- pre-scan and UTF-8 check (_scan and _utf8, imported at the first parse_json) ---

_scan_fn = None
_native_scan = None
_utf8_check = None  # sbd.validate._utf8.check (not "_utf8": the submodule sets that attribute)


def _scanner():
    global _scan_fn, _native_scan, _utf8_check
    if _scan_fn is None:
        from sbd.validate import _scan as m
        from sbd.validate._utf8 import check

        _utf8_check = check
        _scan_fn = m.best()
        if _scan_fn is not m.scan_py:
            _native_scan = _scan_fn
    return _scan_fn


def use_native_scan(enabled):
    """Tests and benchmarks: force (False) the portable pre-scan, or re-probe.

    Returns True when the native (viper) pre-scan is in use.
    """
    global _scan_fn, _native_scan, _utf8_check
    from sbd.validate import _scan as m
    from sbd.validate._utf8 import check

    _utf8_check = check
    _scan_fn = m.best() if enabled else m.scan_py
    if _scan_fn is not m.scan_py:
        _native_scan = _scan_fn
    return _scan_fn is not m.scan_py
