# sbd.validate.layout: fixed binary records (struct-based) with named fields
# and bounds.  A submodule of its own (`from sbd.validate import layout`): an
# app that never parses a binary record pays no RAM for it.
#
#   HEADER = layout.Layout("record",
#       ("magic", "4s", b"SBD1"),          # exact bytes
#       ("version", "B", (1, 1)),          # range lo..hi
#       ("kind", "B", {1, 2, 7}),          # one of a set
#       ("length", "<H", (0, 1024)),
#       ("reserved", "2s", b"\0\0"),       # reserved bytes must be zero
#       ("crc", "<I"),                     # any value
#   )
#   rec = HEADER.parse(buf)                # {"magic": b"SBD1", "version": 1, ...}
#
# A Layout is built once, at import; it checks its own description then
# (TypeError or ValueError for a bad one: a programming error, not an input).
# Field formats: one of b B h H i I q Q (one integer), Ns (N bytes) or Nx (N
# ignored bytes, no value).  Every integer wider than a byte states its byte
# order, "<" (little-endian) or ">" or "!" (big-endian), and all fields of a
# layout agree: native order ("@", "=" or none) differs between boards and
# hosts and is refused, and one order per record is what wire formats use.
# Checks (the third element of a field): None (any value), an int or bytes
# (exactly that value), a (lo, hi) tuple of ints (range), a set of ints or of
# bytes (one of them), or fn(value) returning None or the rule to reject with.
#
# parse(buf) enforces, in order:
#   1. size: len(buf) == size ("shorter than N bytes", "longer than N bytes"),
#      before unpacking; with exact=False a longer buffer is allowed and only
#      its first size bytes are read (a header followed by a payload);
#   2. each field in order: "not <value>", "below N", "above N",
#      "not one of a, b", or the check function's rule.
# Errors are sbd.validate.ValidationError ("record.length: above 1024") with
# the reject hook called; the rejected value is never in the message.
import struct

from micropython import const

from sbd.validate import reject

_INT_CODES = "bBhHiIqQ"
_ORDERS = "<>!"

# Check kinds.
_ANY = const(0)
_EXACT = const(1)
_RANGE = const(2)
_SET = const(3)
_FN = const(4)


def _show(x):
    # An expected value (from the layout, never from the input) for a rule.
    if type(x) is bytes:
        if x and min(x) >= 32 and max(x) <= 126:
            return x.decode()
        return "0x" + "".join(["%02x" % c for c in x])
    return str(x)


class Layout:
    """A fixed binary record: Layout(name, (field, format[, check]), ...)."""

    def __init__(self, name, *fields):
        order = ""
        codes = []
        rules = []
        names = []
        for f in fields:
            if type(f) is not tuple or not 2 <= len(f) <= 3 or type(f[0]) is not str or type(f[1]) is not str:
                raise TypeError("a field is (name, format[, check])")
            fname, fmt = f[0], f[1]
            o = fmt[:1]
            if o == "@" or o == "=":
                raise ValueError(fname + ": native byte order")
            if o and o in _ORDERS:
                if order and order != o:
                    raise ValueError(fname + ": one byte order per layout")
                order = o
                fmt = fmt[1:]
            else:
                o = ""
            code = fmt[-1:]
            count = fmt[:-1]
            if not code or (count and not count.isdigit()):
                raise ValueError(fname + ": bad format")
            if code in "sx":
                if not count or int(count) < 1:
                    raise ValueError(fname + ": a count is required")
            elif code not in _INT_CODES or count:
                raise ValueError(fname + ": bad format")
            elif not o and code not in "bB":
                raise ValueError(fname + ": byte order required")
            codes.append(fmt)
            if code == "x":
                if len(f) == 3:
                    raise ValueError(fname + ": padding has no value")
                continue
            if fname in names:
                raise ValueError(fname + ": duplicate field")
            names.append(fname)
            rules.append(_rule(fname, code, int(count) if count else 0, f[2] if len(f) == 3 else None))
        self.name = name
        # "<" when every field is one byte wide: standard sizes, no alignment.
        self.fmt = (order or "<") + "".join(codes)
        self.size = struct.calcsize(self.fmt)
        self.names = tuple(names)
        self._rules = tuple(rules)

    def parse(self, buf, name=None, exact=True):
        """Check and unpack buf (bytes, bytearray or memoryview) into a dict."""
        name = name or self.name
        n = len(buf)
        if n < self.size:
            reject(name, "shorter than %d bytes" % self.size)
        if n > self.size and exact:
            reject(name, "longer than %d bytes" % self.size)
        vals = struct.unpack_from(self.fmt, buf, 0)
        out = {}
        i = 0
        for fname in self.names:
            x = vals[i]
            rule = _check(self._rules[i], x)
            if rule is not None:
                reject(name, rule, (fname,))
            out[fname] = x
            i += 1
        return out

    def pack(self, values, name=None):
        """The bytes of a record from a dict, checked by the same rules."""
        name = name or self.name
        vals = []
        i = 0
        for fname in self.names:
            if fname not in values:
                reject(name, "missing", (fname,))
            x = values[fname]
            rule = self._rules[i]
            r = _fits(rule, x)
            if r is None:
                r = _check(rule, x)
            if r is not None:
                reject(name, r, (fname,))
            vals.append(x)
            i += 1
        return struct.pack(self.fmt, *vals)


def _rule(fname, code, count, check):
    # (kind, value type, check data, message, lo, hi): lo..hi is what the
    # format holds (a byte count for bytes), for pack().
    if code == "s":
        t = bytes
        lo = hi = count
    else:
        t = int
        bits = struct.calcsize("<" + code) * 8
        if code in "bhiq":
            lo = -(1 << (bits - 1))
            hi = (1 << (bits - 1)) - 1
        else:
            lo = 0
            hi = (1 << bits) - 1
    if check is None:
        return (_ANY, t, None, None, lo, hi)
    c = type(check)
    if c is t:
        return (_EXACT, t, check, "not " + _show(check), lo, hi)
    if c is tuple and t is int and len(check) == 2 and type(check[0]) is int and type(check[1]) is int:
        if check[0] > check[1]:
            raise ValueError(fname + ": bad range")
        return (_RANGE, t, check, None, lo, hi)
    if c is set and check:
        for x in check:
            if type(x) is not t:
                raise TypeError(fname + ": set values of the field's type")
        return (_SET, t, check, "not one of " + ", ".join([_show(x) for x in sorted(check)]), lo, hi)
    if callable(check):
        return (_FN, t, check, None, lo, hi)
    raise TypeError(fname + ": bad check")


def _fits(rule, x):
    # pack(): None, or why x cannot be stored in the field.  MicroPython's
    # struct.pack silently truncates what does not fit; CPython raises.
    if rule[1] is bytes:
        if type(x) is not bytes:
            return "not bytes"
        if len(x) != rule[4]:
            return "not %d bytes" % rule[4]
        return None
    if type(x) is not int:
        return "not an integer"
    if x < rule[4] or x > rule[5]:
        return "does not fit the format"
    return None


def _check(rule, x):
    # None, or the rule x breaks.
    kind = rule[0]
    if kind == _ANY:
        return None
    if kind == _RANGE:
        lo, hi = rule[2]
        if x < lo:
            return "below %d" % lo
        if x > hi:
            return "above %d" % hi
        return None
    if kind == _EXACT:
        return None if x == rule[2] else rule[3]
    if kind == _SET:
        return None if x in rule[2] else rule[3]
    try:
        r = rule[2](x)
    except ValueError:
        r = "rejected by check"
    return r or None
