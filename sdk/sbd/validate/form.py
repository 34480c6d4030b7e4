# sbd.validate.form: query strings and form bodies
# (application/x-www-form-urlencoded) checked against the same schemas as
# JSON.  A submodule of its own (`from sbd.validate import form`): an app that
# never parses a form pays no RAM for it.
#
# parse_query(data, schema) and parse_form(data, schema) differ only in the
# name the errors carry.  Both read the part after "?" of a request target, or
# a POST body, and enforce, in order:
#   1. size: len(data) <= max_bytes, before anything else;
#   2. only printable ASCII without space (0x21-0x7e) in the raw data
#      (browsers percent-encode everything else): "not URL-encoded";
#   3. fields: ("&" count + 1) <= max_fields, counted before splitting (empty
#      fields, as in "a=1&&b=2", are skipped but count);
#   4. per field, before decoding: the key at most max_key bytes, the value at
#      most max_value bytes, both as sent (encoded);
#   5. strict decoding: "+" is a space, "%" is followed by two hex digits, the
#      decoded bytes are valid UTF-8 (no overlong forms, surrogates or code
#      points above U+10FFFF: MicroPython's own decoder accepts those, CPython's
#      does not, so this module checks them itself);
#   6. a key sent twice is "duplicate key" (a parser differential otherwise:
#      some frameworks keep the first, some the last), except for a list_of
#      field, where each occurrence is one item, in order;
#   7. values converted as the field's spec says: integer (canonical decimal,
#      as in JSON: no "+", no leading zeros, no spaces), number (the JSON
#      number grammar), boolean ("true"/"false", "on"/"off", "1"/"0"),
#      one_of ints like integer; text, one_of str, hexbytes and b64bytes get
#      the decoded text.  An empty value ("port=") of a field that is not text
#      counts as absent, so optional fields and defaults apply;
#   8. the schema, exactly as validate() applies it: required fields, ranges,
#      lengths, character classes, unknown fields (rejected unless the obj
#      says DROP or KEEP; kept values are text).
# The schema is an obj() whose fields are scalars or list_of(scalar): a form
# has no nesting.  Errors are sbd.validate.ValidationError, with the reject
# hook called, like every other rejection: "form.port: above 65535".
from micropython import const

from sbd.validate import (
    ENUM_RULE,
    ENUM_TYPE,
    K_BOOL,
    K_ENUM,
    K_LIST,
    K_NUM,
    K_OBJ,
    K_TEXT,
    KIND,
    LIST_ITEM,
    LIST_MAX,
    OBJ_FIELDS,
    OBJ_UNKNOWN,
    REJECT,
    Fail,
    check_spec,
    reject,
)
from sbd.validate._utf8 import check as _utf8

DEFAULT_MAX_BYTES = const(1024)
_MAX_KEY = const(32)
_MAX_VALUE = const(256)
# Fields allowed when the schema keeps or drops unknown fields (it then says
# nothing about their number).
_DEFAULT_MAX_FIELDS = const(32)

# _number() results.
_NOT_NUM = const(0)
_INTEGRAL = const(1)
_FRACTIONAL = const(2)


def parse_query(
    data, schema, max_bytes=DEFAULT_MAX_BYTES, max_fields=None, max_key=_MAX_KEY, max_value=_MAX_VALUE, name="query"
):
    """A query string (the part after "?"), checked against an obj() schema.

    data: bytes, bytearray, memoryview or str.  max_fields defaults to what the
    schema can accept (one per field, max_items per list_of field; 32 if the
    obj keeps or drops unknown fields).  Returns the dict, converted and
    normalized as by validate(); raises ValidationError.
    """
    return _parse(data, schema, max_bytes, max_fields, max_key, max_value, name)


def parse_form(
    data, schema, max_bytes=DEFAULT_MAX_BYTES, max_fields=None, max_key=_MAX_KEY, max_value=_MAX_VALUE, name="form"
):
    """A POST body of type application/x-www-form-urlencoded; as parse_query."""
    return _parse(data, schema, max_bytes, max_fields, max_key, max_value, name)


def _fields(schema):
    # {name: spec} of a form schema and the number of fields it can accept.
    # A schema this module cannot apply is a programming error: TypeError.
    if type(schema) is not tuple or schema[KIND] != K_OBJ:
        raise TypeError("a form schema is an obj()")
    specs = {}
    n = 0
    for k, s in schema[OBJ_FIELDS]:
        kind = s[KIND]
        if kind == K_LIST:
            n += s[LIST_MAX]
            kind = s[LIST_ITEM][KIND]
        else:
            n += 1
        if kind == K_OBJ or kind == K_LIST:
            raise TypeError("form fields are scalars or lists of scalars")
        specs[k] = s
    if schema[OBJ_UNKNOWN] != REJECT:
        n = _DEFAULT_MAX_FIELDS
    return specs, n


def _parse(data, schema, max_bytes, max_fields, max_key, max_value, name):
    specs, implied = _fields(schema)
    if max_fields is None:
        max_fields = implied
    t = type(data)
    if t is str:
        if len(data) > max_bytes:  # characters <= bytes: cheap early exit
            reject(name, "larger than %d bytes" % max_bytes)
        data = data.encode()
    elif t is not bytes:
        if len(data) > max_bytes:
            reject(name, "larger than %d bytes" % max_bytes)
        data = bytes(data)  # bytearray or memoryview: at most max_bytes copied
    n = len(data)
    if n > max_bytes:
        reject(name, "larger than %d bytes" % max_bytes)
    if not n:
        return _validate({}, schema, name)
    if min(data) < 33 or max(data) > 126:
        reject(name, "not URL-encoded")
    if data.count(b"&") + 1 > max_fields:
        reject(name, "more than %d fields" % max_fields)
    out = {}
    i = 0
    while i <= n:
        j = data.find(b"&", i)
        if j < 0:
            j = n
        if j > i:
            _field(data, i, j, specs, out, max_key, max_value, name)
        i = j + 1
    # Empty values of non-text fields were kept as _ABSENT for the duplicate
    # rule; now they are absent.
    for k in [k for k in out if out[k] is _ABSENT]:
        del out[k]
    return _validate(out, schema, name)


def _validate(d, schema, name):
    try:
        return check_spec(schema, d, [0, 1])
    except Fail as e:
        reject(name, e.rule, e.segs)


def _field(data, i, j, specs, out, max_key, max_value, name):
    e = data.find(b"=", i, j)
    if e < 0:
        e = j  # "flag" is the key "flag" with an empty value
    if e - i > max_key:
        reject(name, "key longer than %d bytes" % max_key)
    try:
        key = _decode(data[i:e])
    except Fail as x:
        reject(name, x.rule)
    spec = specs.get(key)
    # Only schema field names go into a path: an attacker chooses the others.
    where = (key,) if spec is not None else ()
    if j - e - 1 > max_value:
        reject(name, "value longer than %d bytes" % max_value, where)
    in_list = spec is not None and spec[KIND] == K_LIST
    if key in out and not in_list:
        reject(name, "duplicate key", where)
    try:
        val = _decode(data[e + 1 : j]) if e < j else ""
        if spec is None:
            out[key] = val  # unknown: the schema's policy decides
            return
        if in_list:
            items = out.get(key)
            if items is None:
                items = out[key] = []
            x = _convert(spec[LIST_ITEM], val)
            if x is not _ABSENT:
                items.append(x)
            return
        out[key] = _convert(spec, val)  # _ABSENT for an empty value: removed later
    except Fail as x:
        if spec is None:
            reject(name, x.rule)
        if in_list:  # the index the item would have had
            items = out.get(key)
            x.segs.append(len(items) if items else 0)
        x.segs.append(key)
        reject(name, x.rule, x.segs)


_ABSENT = object()
_TRUE = ("true", "on", "1")
_FALSE = ("false", "off", "0")


def _convert(s, t):
    # The decoded text t as the spec's type; the spec itself is applied later.
    kind = s[KIND]
    if kind == K_TEXT or kind > K_ENUM:  # text, hexbytes, b64bytes
        return t
    if kind == K_ENUM and s[ENUM_TYPE] is str:
        return t
    if not t:
        return _ABSENT
    if kind == K_BOOL:
        if t in _TRUE:
            return True
        if t in _FALSE:
            return False
        raise Fail("not a boolean")
    num = _number(t)
    if kind == K_NUM:
        if num == _NOT_NUM:
            raise Fail("not a number")
        return float(t)
    if num != _INTEGRAL:
        if kind == K_ENUM:
            raise Fail("not one of " + s[ENUM_RULE])
        raise Fail("not an integer")
    return int(t)


def _digits(t, i, n):
    while i < n and "0" <= t[i] <= "9":
        i += 1
    return i


def _number(t):
    # The JSON number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    # float() and int() accept more ("+1", " 1", "1_0", "1." and, on
    # MicroPython, other forms): a value must mean one thing everywhere.
    n = len(t)
    i = 1 if t[0] == "-" else 0
    j = _digits(t, i, n)
    if j == i or (t[i] == "0" and j > i + 1):
        return _NOT_NUM
    if j == n:
        return _INTEGRAL
    if t[j] == ".":
        k = _digits(t, j + 1, n)
        if k == j + 1:
            return _NOT_NUM
        j = k
    if j < n and (t[j] == "e" or t[j] == "E"):
        j += 1
        if j < n and (t[j] == "+" or t[j] == "-"):
            j += 1
        k = _digits(t, j, n)
        if k == j:
            return _NOT_NUM
        j = k
    return _FRACTIONAL if j == n else _NOT_NUM


def _hexval(c):
    if 48 <= c <= 57:
        return c - 48
    c |= 32  # lower case
    if 97 <= c <= 102:
        return c - 87
    return -1


def _decode(p):
    # One key or value as sent (printable ASCII) -> str; raises Fail.
    if b"+" in p:
        p = p.replace(b"+", b" ")
    if b"%" in p:
        n = len(p)
        out = bytearray()
        i = 0
        while True:
            j = p.find(b"%", i)
            if j < 0:
                break
            out += p[i:j]
            if j + 2 >= n:
                raise Fail("bad percent-encoding")
            hi = _hexval(p[j + 1])
            lo = _hexval(p[j + 2])
            if hi < 0 or lo < 0:
                raise Fail("bad percent-encoding")
            out.append(hi << 4 | lo)
            i = j + 3
        out += p[i:]
        if out and max(out) > 127 and not _utf8(out):
            raise Fail("not UTF-8")
        p = out
    return str(p, "utf-8")
