# sbd.validate: text, numbers, booleans, enums and bytes: every rule and message.
# sbd-device: heapsize=64K timeout=120
from dtest import eq, raises
from sbd import validate as v
from validate_util import fails, jfails

# ---- text ------------------------------------------------------------------------


def test_text_rules():
    s = v.text(2, 4)
    eq(v.validate("ab", s), "ab")
    eq(v.validate("abcd", s), "abcd")
    fails(s, "a", "x", "shorter than 2")
    fails(s, "abcde", "x", "longer than 4")
    fails(s, 12, "x", "not a string")
    fails(s, b"ab", "x", "not a string")
    fails(s, None, "x", "null")


def test_text_length_counts_characters():
    eq(v.validate("\u00e9\u00e9", v.text(2, 2)), "\u00e9\u00e9")


def test_text_default_bound_is_64():
    v.validate("a" * 64, v.text())
    fails(v.text(), "a" * 65, "x", "longer than 64")


def test_text_character_class():
    s = v.text(0, 32, chars=v.HOSTNAME)
    eq(v.validate("gh-ctl.example", s), "gh-ctl.example")
    fails(s, "gh ctl", "x", "character outside A-Za-z0-9.-")
    fails(s, "caf\u00e9", "x", "character outside A-Za-z0-9.-")
    fails(v.text(chars="A-Z"), "GBx", "x", "character outside A-Z")
    eq(v.validate("", s), "")
    fails(v.text(chars=v.DIGITS), "12a", "x", "character outside 0-9")
    eq(v.validate("0aF9", v.text(chars=v.HEX)), "0aF9")
    eq(v.validate("a b~", v.text(chars=v.PRINTABLE)), "a b~")
    fails(v.text(chars=v.PRINTABLE), "a\tb", "x", "character outside  -~")


def test_text_control_characters():
    for bad in ("a\nb", "\x00", "tab\t", "del\x7f", "\x1b[2J"):
        fails(v.text(), bad, "x", "control character")
    eq(v.validate("a\nb", v.text(allow_control=True)), "a\nb")
    eq(v.validate("caf\u00e9 \u2713", v.text()), "caf\u00e9 \u2713")


def test_text_control_characters_from_json():
    s = v.obj({"t": v.text()})
    for doc in (b'{"t":"a\\nb"}', b'{"t":"\\u0001"}', b'{"t":"a\x7f"}', b'{"t":"\\u007f"}'):
        jfails(doc, s, "control character", "x.t")
    eq(v.parse_json(b'{"t":"a\\"b\\\\"}', s), {"t": 'a"b\\'})
    eq(v.parse_json(b'{"t":"caf\\u00e9"}', s), {"t": "caf\u00e9"})


def test_text_prefix():
    s = v.text(prefix="https://")
    eq(v.validate("https://x", s), "https://x")
    fails(s, "http://x", "x", "does not start with https://")
    s2 = v.text(prefix=("mqtt://", "mqtts://"))
    v.validate("mqtts://b", s2)
    fails(s2, "ws://b", "x", "does not start with mqtt:// or mqtts://")


def test_text_check_function():
    def hhmm(t):
        if len(t) != 5 or t[2] != ":" or not (0 <= int(t[:2]) <= 23 and 0 <= int(t[3:]) <= 59):
            return "not HH:MM"
        return None

    s = v.text(5, 5, chars="0-9:", check=hhmm)
    eq(v.validate("06:30", s), "06:30")
    fails(s, "24:00", "x", "not HH:MM")
    fails(s, "0:::0", "x", "rejected by check")  # int() raised ValueError


# ---- numbers, booleans, enums ------------------------------------------------------


def test_integer_rules():
    s = v.integer(-5, 5)
    eq(v.validate(-5, s), -5)
    eq(v.validate(5, s), 5)
    fails(s, -6, "x", "below -5")
    fails(s, 6, "x", "above 5")
    fails(s, True, "x", "not an integer")
    fails(s, 1.0, "x", "not an integer")
    fails(s, "1", "x", "not an integer")


def test_integer_default_range_is_int32():
    s = v.integer()
    v.validate(2147483647, s)
    v.validate(-2147483648, s)
    fails(s, 2147483648, "x", "above 2147483647")
    fails(s, -(10**40), "x", "below -2147483648")


def test_integer_from_json_huge_number():
    # Issue 7 item 7: MicroPython built a 5000-digit int ("above N"), CPython
    # refused it ("not valid JSON"); both now refuse any number longer than
    # 32 characters in the pre-scan, and take one of 32.
    e = raises(v.ValidationError, v.parse_json, b"1" * 5000, v.integer(), max_bytes=6000)
    eq(e.rule, "number longer than 32 characters")
    for doc in (b"1" * 400, b"-" + b"1" * 32, b"1." + b"0" * 31, b"1e" + b"0" * 31):
        jfails(doc, v.integer(), "number longer than 32 characters")
        jfails(b'{"a":' + doc + b"}", v.obj({"a": v.number()}), "number longer than 32 characters")
    jfails(b"1" * 32, v.integer(), "above 2147483647")
    eq(v.parse_json(b"-" + b"0" * 0 + b"1" * 31, v.integer(-(10**31), 0)), -int("1" * 31))
    eq(v.parse_json(b"0.5" + b"0" * 29, v.number()), 0.5)


def test_number_rules():
    s = v.number(-0.5, 50)
    eq(v.validate(27.5, s), 27.5)
    r = v.validate(3, s)
    eq((r, type(r)), (3.0, float), "int becomes float")
    fails(s, -1.0, "x", "below -0.5")
    fails(s, 50.5, "x", "above 50")
    fails(s, True, "x", "not a number")
    fails(s, "1.0", "x", "not a number")
    fails(v.number(), float("inf"), "x", "not finite")
    fails(v.number(), float("-inf"), "x", "not finite")
    fails(v.number(), float("nan"), "x", "not finite")
    fails(v.number(), 10**400, "x", "not finite")


def test_number_from_json_not_finite():
    # MicroPython's json gives inf for 1e999; CPython's gives inf too.
    jfails(b"1e999", v.number(), "not finite")
    # NaN and Infinity are not JSON (CPython would accept them).
    jfails(b"NaN", v.number(), "not valid JSON")
    jfails(b"[Infinity]", v.list_of(v.number()), "not valid JSON")


def test_boolean_rules():
    eq(v.validate(False, v.boolean()), False)
    fails(v.boolean(), 1, "x", "not a boolean")
    fails(v.boolean(), "true", "x", "not a boolean")


def test_one_of():
    s = v.one_of("stable", "beta")
    eq(v.validate("beta", s), "beta")
    fails(s, "alpha", "x", "not one of stable, beta")
    fails(s, 1, "x", "not one of stable, beta")
    n = v.one_of(0, 1, 2)
    eq(v.validate(2, n), 2)
    fails(n, True, "x", "not one of 0, 1, 2")
    fails(n, 1.0, "x", "not one of 0, 1, 2")
    raises(TypeError, v.one_of, "a", 1)
    raises(TypeError, v.one_of, 1.5)
    raises(ValueError, v.one_of)


# ---- bytes -------------------------------------------------------------------------


def test_hexbytes():
    s = v.hexbytes(2, 3)
    eq(v.validate("0aFF", s), b"\x0a\xff")
    fails(s, "0a", "x", "shorter than 2 bytes")
    fails(s, "00112233", "x", "longer than 3 bytes")
    fails(s, "0a0", "x", "not hex")
    fails(s, "0g00", "x", "not hex")
    fails(s, "\u00e9\u00e9\u00e9\u00e9", "x", "not hex")
    fails(s, b"0a0b", "x", "not a string")


def test_hexbytes_never_decodes_beyond_the_bound():
    fails(v.hexbytes(0, 4), "zz" * 1000, "x", "longer than 4 bytes")


def test_b64bytes():
    s = v.b64bytes(1, 5)
    eq(v.validate("aGVsbG8=", s), b"hello")
    eq(v.validate("QQ==", s), b"A")
    fails(s, "aGVsbG8", "x", "not base64")
    fails(s, "aGV*bG8=", "x", "not base64")
    fails(s, "aGVs\nG8=", "x", "not base64")
    fails(s, "QR==", "x", "not base64")  # stray bits: not the canonical form
    fails(s, "=QQ=", "x", "not base64")
    fails(s, "", "x", "shorter than 1 bytes")
    fails(s, "aGVsbG8hIQ==", "x", "longer than 5 bytes")
    fails(s, 5, "x", "not a string")
