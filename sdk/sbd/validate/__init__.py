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
#     2. a pre-scan (no allocation but its stack of one byte per open
#        container): a complete strict-JSON (RFC 8259) recognizer, so
#        json.loads cannot read the bytes differently on either runtime
#        (MicroPython's own json is lax: `{"a" 1}`, `01`, `[1,]`, `"\q"`,
#        overlong UTF-8...); lone surrogate escapes and numbers longer than
#        32 characters are refused too; nesting depth <= the schema's depth,
#        number of values <= what the schema can accept; so json.loads never
#        sees a document that could spend the heap on depth or breadth the
#        schema would reject (sbd.validate._scan says what exactly);
#     3. json.loads (after escaped surrogate pairs are written as UTF-8, so
#        MicroPython decodes them to one code point as CPython does); any
#        parse error is "not valid JSON";
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
# uses: _scan (the pre-scan, at the first parse_json); _utf8 (the UTF-8
# check of form); _more (text prefix/check, hex and base64, DROP/KEEP objects:
# imported by those constructors); form (query strings and form bodies) and
# layout (fixed binary records), imported by the app.
import sys

from micropython import const

# The spec tuple layout, named once here: (kind, flags, default, then the
# slots of the kind).  A const is inlined only in its own module, so the
# names form and _more read are public (each costs a dict entry on the heap);
# the others are private, inlined here and free.
KIND = const(0)
_FLAGS = const(1)
_DEFAULT = const(2)
_TEXT_MIN = const(3)  # text: lengths in characters
_TEXT_MAX = const(4)
_TEXT_CLASS = const(5)  # the expanded character class, or None
_TEXT_CHARS = const(6)  # the class as given (for the rule)
TEXT_PREFIX = const(7)  # tuple of str, or None
TEXT_CHECK = const(8)  # fn(value), or None
_INT_LO = const(3)
_INT_HI = const(4)
_NUM_LO = const(3)  # None: unbounded
_NUM_HI = const(4)
BYTES_MIN = const(3)  # hexbytes, b64bytes: lengths in bytes
BYTES_MAX = const(4)
_ENUM_VALUES = const(3)
ENUM_RULE = const(4)  # the values, joined for the rule
ENUM_TYPE = const(5)  # str or int
LIST_ITEM = const(3)
_LIST_MIN = const(4)
LIST_MAX = const(5)
_LIST_DEPTH = const(6)
_LIST_WEIGHT = const(7)
OBJ_FIELDS = const(3)  # ((name, spec), ...) in name order
OBJ_UNKNOWN = const(4)  # REJECT, DROP or KEEP
_OBJ_DEPTH = const(5)
_OBJ_WEIGHT = const(6)

# Kinds.
K_TEXT = const(1)
_K_INT = const(2)
K_OBJ = const(3)
K_LIST = const(4)
K_BOOL = const(5)
K_NUM = const(6)
K_ENUM = const(7)
K_HEX = const(8)
_K_B64 = const(9)

# Flags.
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


class Fail(Exception):
    # For sbd.validate and its submodules (form, layout, _more), not apps:
    # raised at the failing value, gathers the path on its way up; the entry
    # points turn it into ValidationError through reject().
    def __init__(self, rule):
        self.rule = rule
        self.segs = []


def _noop(path, rule):
    pass


_hook = _noop


def set_reject_hook(fn):
    """Call fn(path, rule) on every rejected input (None: no hook).

    The value is never passed.  An exception raised by the hook is ignored
    so it cannot mask the rejection.  Subscribers of sbd.events get the same
    as the event `validation.rejected` (path=, rule=).
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


def reject(name, rule, segs=()):
    # The one way out for a rejected input (form and layout use it too): the
    # hook, then ValidationError.
    path = _path(name, segs)
    try:
        _hook(path, rule)
    except Exception:  # a broken telemetry hook must not hide the rejection
        pass
    # The `validation.rejected` event, when sbd.events is in use: looked up,
    # not imported, so an app without events pays nothing (events.emit
    # itself never raises).
    ev = sys.modules.get("sbd.events")
    if ev is not None and ev.listening:
        ev.emit("validation.rejected", path=path, rule=rule)
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
            check_spec(spec, d, [0, 1])
        except Fail as e:
            raise ValueError("bad default: " + e.rule)
    return spec


def _bounds(lo, hi, what):
    if lo > hi or lo < 0:
        raise ValueError("bad " + what + " bounds")


def integer(lo=_I32_MIN, hi=_I32_MAX, *, optional=False, default=_MISSING, nullable=False):
    """An int in [lo, hi] (default: the int32 range).  Booleans are rejected."""
    if lo > hi:
        raise ValueError("bad integer bounds")
    return _checked((_K_INT, _flags(optional, default, nullable), default, lo, hi))


def number(lo=None, hi=None, *, optional=False, default=_MISSING, nullable=False):
    """A finite float in [lo, hi]; an int is accepted and returned as float."""
    if lo is not None and hi is not None and lo > hi:
        raise ValueError("bad number bounds")
    return _checked((K_NUM, _flags(optional, default, nullable), default, lo, hi))


def boolean(*, optional=False, default=_MISSING, nullable=False):
    return _checked((K_BOOL, _flags(optional, default, nullable), default))


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


def text(
    min_len=0,
    max_len=_DEFAULT_TEXT_MAX,
    *,
    chars=None,
    prefix=None,
    check=None,
    allow_control=False,
    optional=False,
    default=_MISSING,
    nullable=False,
):
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
    return _checked((K_TEXT, f, default, min_len, max_len, _expand(chars) if chars else None, chars, prefix, check))


def hexbytes(min_len=0, max_len=_DEFAULT_BYTES_MAX, *, optional=False, default=_MISSING, nullable=False):
    """Bytes sent as a hex string; lengths in bytes; returns bytes."""
    _bounds(min_len, max_len, "length")
    _need_more()
    return _checked((K_HEX, _flags(optional, default, nullable), default, min_len, max_len))


def b64bytes(min_len=0, max_len=_DEFAULT_BYTES_MAX, *, optional=False, default=_MISSING, nullable=False):
    """Bytes sent as canonical padded base64; lengths in bytes; returns bytes."""
    _bounds(min_len, max_len, "length")
    _need_more()
    return _checked((_K_B64, _flags(optional, default, nullable), default, min_len, max_len))


def one_of(*values, optional=False, default=_MISSING, nullable=False):
    """One of the given values, all str or all int (True and 1.0 never match 1)."""
    if not values:
        raise ValueError("one_of needs values")
    t = type(values[0])
    for v in values:
        if type(v) is not t or t not in (str, int):
            raise TypeError("one_of values are all str or all int")
    return _checked(
        (K_ENUM, _flags(optional, default, nullable), default, values, ", ".join([str(v) for v in values]), t)
    )


def list_of(item, min_items=0, max_items=_DEFAULT_ITEMS_MAX, *, optional=False, default=_MISSING, nullable=False):
    """A list of min_items..max_items values, each checked against item."""
    _bounds(min_items, max_items, "item")
    depth = 1 + _depth(item)
    weight = min(_UNBOUNDED, 2 + max_items * _weight(item))
    return _checked((K_LIST, _flags(optional, default, nullable), default, item, min_items, max_items, depth, weight))


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
    return _checked(
        (
            K_OBJ,
            _flags(optional, default, nullable),
            default,
            items,
            unknown,
            min(_UNBOUNDED, depth + 1),
            min(_UNBOUNDED, weight),
        )
    )


def _depth(s):
    k = s[KIND]
    if k == K_OBJ:
        return s[_OBJ_DEPTH]
    if k == K_LIST:
        return s[_LIST_DEPTH]
    return 0


def _weight(s):
    k = s[KIND]
    if k == K_OBJ:
        return s[_OBJ_WEIGHT]
    if k == K_LIST:
        return s[_LIST_WEIGHT]
    return 1


# ---- checking -------------------------------------------------------------------


def check_spec(s, x, ctx):
    # The schema walk (form uses it too); raises Fail.
    # ctx: [object members seen, 1 if strings may hold control characters].
    # parse_json's pre-scan tells it the second; the members feed its
    # duplicate-key rule.  None is handled on the failure paths (nullable).
    k = s[KIND]
    if k == K_TEXT:
        if _type(x) is not _str:
            return _wrong(s, x, "not a string")
        n = _len(x)
        if n < s[_TEXT_MIN]:
            raise Fail("shorter than %d" % s[_TEXT_MIN])
        if n > s[_TEXT_MAX]:
            raise Fail("longer than %d" % s[_TEXT_MAX])
        c = s[_TEXT_CLASS]
        if c is not None:
            if x.strip(c):
                raise Fail("character outside " + s[_TEXT_CHARS])
        elif ctx[1] and n and not s[_FLAGS] & _CTRL:
            b = x.encode()  # min() over bytes is 5x faster than over a str
            if _min(b) < 32 or 127 in b:
                raise Fail("control character")
        if s[TEXT_PREFIX] is not None or s[TEXT_CHECK] is not None:
            _check_text_more(s, x)
        return x
    if k == _K_INT:
        if _type(x) is not _int:
            return _wrong(s, x, "not an integer")
        if x < s[_INT_LO]:
            raise Fail("below %d" % s[_INT_LO])
        if x > s[_INT_HI]:
            raise Fail("above %d" % s[_INT_HI])
        return x
    if k == K_OBJ:
        if _type(x) is not _dict:
            return _wrong(s, x, "not an object")
        return _check_obj(s, x, ctx)
    if k == K_BOOL:
        if x is True or x is False:
            return x
        return _wrong(s, x, "not a boolean")
    if k == K_ENUM:
        # One value type per enum, so `in` is exact: True never matches 1.
        if _type(x) is s[ENUM_TYPE] and x in s[_ENUM_VALUES]:
            return x
        return _wrong(s, x, "not one of " + s[ENUM_RULE])
    if k == K_LIST:
        if _type(x) is not _list:
            return _wrong(s, x, "not a list")
        return _check_list(s, x, ctx)
    if k == K_NUM:
        t = _type(x)
        if t is _int:
            try:
                x = float(x)
            except OverflowError:  # CPython: an int too large for a float
                raise Fail("not finite")
        elif t is not _float:
            return _wrong(s, x, "not a number")
        if x - x != 0.0:  # nan and +-inf
            raise Fail("not finite")
        if s[_NUM_LO] is not None and x < s[_NUM_LO]:
            raise Fail("below " + str(s[_NUM_LO]))
        if s[_NUM_HI] is not None and x > s[_NUM_HI]:
            raise Fail("above " + str(s[_NUM_HI]))
        return x
    if k == K_HEX or k == _K_B64:
        if _type(x) is not _str:
            return _wrong(s, x, "not a string")
        return _check_bytes(s, x, k)
    raise TypeError("not a schema")


def _wrong(s, x, rule):
    if x is None:
        if s[_FLAGS] & _NULL:
            return None
        raise Fail("null")
    raise Fail(rule)


def _check_list(s, x, ctx):
    n = _len(x)
    if n < s[_LIST_MIN]:
        raise Fail("fewer than %d items" % s[_LIST_MIN])
    if n > s[LIST_MAX]:
        raise Fail("more than %d items" % s[LIST_MAX])
    it = s[LIST_ITEM]
    i = 0
    try:
        while i < n:
            v = x[i]
            r = check_spec(it, v, ctx)
            if r is not v:
                x[i] = r
            i += 1
    except Fail as e:
        e.segs.append(i)
        raise
    return x


def _check_obj(s, x, ctx):
    n = _len(x)
    ctx[0] += n
    seen = 0
    name = None
    try:
        for name, fs in s[OBJ_FIELDS]:
            if name not in x:
                f = fs[_FLAGS]
                if not f & _OPT:
                    raise Fail("missing")
                if f & _HASDEF:
                    x[name] = fs[_DEFAULT]
                continue
            seen += 1
            v = x[name]
            r = check_spec(fs, v, ctx)
            if r is not v:
                x[name] = r
    except Fail as e:
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
    if s[OBJ_UNKNOWN] != REJECT:
        return _unknown_kept(s, x, ctx)
    names = [f[0] for f in s[OBJ_FIELDS]]
    extra = [k for k in x if k not in names]
    # Name the first unknown key in code point order: dict order differs
    # between MicroPython and CPython, the message must not.
    extra.sort(key=_sort_key)
    raise Fail(_unknown_rule(extra[0]))


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
        return check_spec(schema, value, [0, 1])
    except Fail as e:
        reject(name, e.rule, e.segs)


def parse_json(data, schema, max_bytes=DEFAULT_MAX_BYTES, name="input", max_depth=None, max_values=None):
    """Bounded JSON: size, pre-scan, json.loads, schema, duplicate keys.

    data: bytes, bytearray, memoryview or str.  max_depth and max_values
    override the nesting and value-count limits the schema implies; a schema
    with KEEP objects implies none, so 8 and 256 apply unless given.
    """
    t = type(data)
    if t is str:
        if len(data) > max_bytes:  # characters <= bytes: cheap early exit
            reject(name, "larger than %d bytes" % max_bytes)
        try:
            data = data.encode()
        except UnicodeError:  # CPython: a str holding a lone surrogate
            reject(name, "not valid JSON")
    elif t is not bytes and t is not bytearray:
        # A memoryview (the MicroPython way: readinto a buffer allocated once)
        # is scanned and parsed in place by the native scan; the portable scan
        # and CPython's json need a copy.
        if _CPYTHON or _scanner() is not _native_scan:
            data = bytes(data)
    n = len(data)
    if n > max_bytes:
        reject(name, "larger than %d bytes" % max_bytes)
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
    # Limits above n cannot bind (each container or value past the first
    # takes a byte): clamped, they always fit a viper int, and the scan's
    # stack (one byte per open container) is never longer than the input.
    d = depth if depth < n else n
    r = _scanner()(data, n, d, values if values <= n else n + 1, bytearray(d))
    sc = _sc
    if r < 0:
        if r == sc.E_DEPTH:
            reject(name, "nested deeper than %d" % depth)
        if r == sc.E_VALUES:
            reject(name, "more than %d values" % values)
        if r == sc.E_NUMBER:
            reject(name, "number longer than %d characters" % sc.MAX_NUMBER)
        reject(name, "not valid JSON")
    if r & sc.SCAN_PAIRS:
        # MicroPython's json decodes each half of an escaped surrogate pair
        # on its own (CESU-8, 2 characters), CPython's to one code point.
        data = sc.join_pairs(data, n)
    try:
        if _CPYTHON:
            x = _loads(str(data, "utf-8"), parse_constant=_no_constant)
        else:
            x = _loads(data)
    except ValueError:  # includes UnicodeError and CPython's JSONDecodeError
        x = _MISSING
    if x is _MISSING:
        reject(name, "not valid JSON")
    ctx = [0, r & sc.SCAN_CTRL]
    try:
        x = check_spec(schema, x, ctx)
    except Fail as e:
        reject(name, e.rule, e.segs)
    if ctx[0] != r // sc.SCAN_MEMBER:
        # json.loads keeps the last of duplicate keys; every ':' the pre-scan
        # counted must be a member that survived.
        reject(name, "duplicate key")
    return x


def _no_constant(s):
    raise ValueError("NaN and Infinity are not JSON")


def _loads(s, **kw):
    global _loads
    import json

    _loads = json.loads
    return json.loads(s, **kw)


# ---- the pre-scan (sbd.validate._scan, imported at the first parse_json) ----------

_sc = None  # the module: its constants name the scan's results
_scan_fn = None
_native_scan = None


def _scanner():
    if _scan_fn is None:
        use_native_scan(True)
    return _scan_fn


def use_native_scan(enabled):
    """Tests and benchmarks: force (False) the portable pre-scan, or re-probe.

    Returns True when the native (viper) pre-scan is in use.
    """
    global _sc, _scan_fn, _native_scan
    from sbd.validate import _scan as m

    _sc = m
    _scan_fn = m.best() if enabled else m.scan_py
    if _scan_fn is not m.scan_py:
        _native_scan = _scan_fn
    return _scan_fn is not m.scan_py
