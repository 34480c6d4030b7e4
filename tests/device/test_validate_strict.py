# sbd.validate, issue 7: the defects an independent review found, each on
# both runtimes (real MicroPython under a 64 KiB heap, and CPython).
# sbd-device: heapsize=64K timeout=120
import gc

from dtest import RUNTIME, eq, true
from sbd import validate as v
from validate_util import jfails

KEEP = v.obj({}, v.KEEP)
A = v.obj({"a": v.integer()})


def _both_scans(fn):
    # Every check runs with the viper scan (MicroPython) and the portable one.
    try:
        for native in (True, False):
            v.use_native_scan(native)
            fn()
            gc.collect()
    finally:
        v.use_native_scan(True)


def _item1():
    # MicroPython's json takes any four bytes after \u, the closing quote
    # included: the pre-scan and the parser disagreed on where a string ends.
    n = 700
    doc = b'["\\uabc\\"' + b"[" * n + b"]" * n + b',"\\""]'
    jfails(doc, A, "not valid JSON")  # was MemoryError in 64 KiB on MicroPython
    jfails(b'["\\uabc\\"' + b"[" * 100 + b"]" * 100 + b',"\\""]', KEEP, "not valid JSON")  # was RecursionError
    jfails(b'["\\uabc\\"' + b"[" * 41 + b"]" * 41 + b',"\\""]', KEEP, "not valid JSON")  # was accepted
    for bad in (b'"\\u"', b'"\\u1"', b'"\\u12"', b'"\\u123"', b'"\\u123"]', b'"\\u12g4"', b'"\\uzzzz"', b'"\\u 123"'):
        jfails(bad, v.text(), "not valid JSON")
    eq(v.parse_json(b'"\\u0041\\u00e9\\u20AC"', v.text()), "A\u00e9\u20ac")


def test_item1_escape_bytes_cannot_hide_the_end_of_a_string():
    _both_scans(_item1)


def _item2():
    # Lax JSON MicroPython's json accepts and CPython's refuses.
    s = v.obj({}, v.KEEP)
    for doc in (
        b'{"a" 1,"b":2,"b":3}',
        b"01",
        b"1.",
        b"-.5",
        b"-",
        b"+1",
        b".5",
        b"1e",
        b"1e+",
        b"0x10",
        b'{"a":1,"b":2]',
        b"[1,2}",
        b"[1,]",
        b"[,1]",
        b"[1,,2]",
        b'{"a":1,}',
        b'{,"a":1}',
        b'{"a":1,,"b":2}',
        b'{"a":1,"b"}',
        b'{"a"}',
        b'{"a":}',
        b"{:1}",
        b"{1:1}",
        b'["a":1]',
        b'"\\q"',
        b'"\\x41"',
        b'"\\U0041"',
        b'"\\uzzzz"',
        b"1\x00junk",
        b"[1]\x00",
        b"[1] [2]",
        b"[1 2]",
        b'{"a":1 "b":2}',
        b"nul",
        b"truex",
        b"True",
        b"NaN",
        b"-Infinity",
        b"[\x0c]",
        b"\xef\xbb\xbf[]",
        b"[1]]",
        b"[[1]",
        b"'a'",
        b"{}{}",
    ):
        jfails(doc, s, "not valid JSON")
    # Missing commas no longer let a long list through the value count.
    big = b"[" + b"1 " * 400 + b"]"
    jfails(big, v.list_of(v.integer(), 0, 255), "not valid JSON")
    jfails(big, KEEP, "not valid JSON")
    n = v.number()
    for good, schema, want in (
        (b"-0", n, 0.0),
        (b"0.5e-3", n, 0.0005),
        (b"1E+2", n, 100.0),
        (b"-1.25e10", n, -1.25e10),
        (b"[]", v.list_of(n), []),
        (b"{}", KEEP, {}),
        (b'[true,false,null,"",[{}]]', KEEP, None),
    ):
        if want is None:
            jfails(good, schema, "not an object")  # strict JSON, it reached the schema
        else:
            eq(v.parse_json(good, schema), want, repr(good))
    eq(v.parse_json(b" [ 1 , 2 ] ", v.list_of(v.integer())), [1, 2])
    eq(v.parse_json(b'\t{"a" :\r\n1}\n', A), {"a": 1})


def test_item2_lax_json_is_refused():
    _both_scans(_item2)


def _item3():
    # The byte after a backslash is checked like any other: an escape is one
    # of \" \\ \/ \b \f \n \r \t \uXXXX, never a raw byte.
    for doc in (
        b'"\\\xc0\\\xaf"',
        b'"\\\xed\xa0\x80"',
        b'"\\\xf4\x90\x80\x80"',
        b'"\\\xc3\xa9"',
        b'"\\\x01"',
        b'"\\\x7f"',
        b'"\\ "',
    ):
        jfails(doc, v.text(allow_control=True), "not valid JSON")
    # Raw overlong forms, surrogates and code points above U+10FFFF too.
    for bad in (
        b"\xc0\xaf",
        b"\xc1\xbf",
        b"\xe0\x9f\xbf",
        b"\xed\xa0\x80",
        b"\xed\xbf\xbf",
        b"\xf0\x8f\xbf\xbf",
        b"\xf4\x90\x80\x80",
        b"\xf5\x80\x80\x80",
        b"\x80",
        b"\xbf",
        b"\xc2",
        b"\xe2\x82",
        b"\xf0\x9f\x98",
        b"\xc2\x41",
        b"\xe2\x28\xa1",
    ):
        jfails(b'["' + bad + b'"]', v.list_of(v.text()), "not valid JSON")
    eq(v.parse_json(b'"\\"\\\\\\/\\b\\f\\n\\r\\t"', v.text(allow_control=True)), '"\\/\b\f\n\r\t')


def test_item3_escapes_and_utf8_everywhere():
    _both_scans(_item3)


def test_item4_hexbytes_refuses_whitespace():
    # MicroPython's binascii.unhexlify skips whitespace: 3 bytes for 4.
    s = v.hexbytes(4, 4)
    for x in ("abcdef\t\t", "abcdef  ", "ab cd ef", " abcdef ", "abcd\nef1", "abcdefgh"):
        e = None
        try:
            v.validate(x, s, "x")
        except v.ValidationError as err:
            e = err
        true(e is not None and e.rule == "not hex", "hexbytes refuses %r" % x)
    from sbd.validate import form

    f = v.obj({"h": v.hexbytes(4, 4)})
    for q in ("h=abcdef++", "h=abcdef%20%20", "h=%09abcdef%09"):
        try:
            form.parse_query(q, f)
            true(False, "form accepted %r" % q)
        except v.ValidationError as err:
            eq(err.rule, "not hex", q)
    eq(form.parse_query("h=abcdef01", f), {"h": b"\xab\xcd\xef\x01"})


def _item5():
    # Lone surrogates are refused everywhere (CPython raised UnicodeEncodeError,
    # MicroPython accepted); a pair is one character on both runtimes.
    t = v.text(0, 4)
    for doc in (
        b'"\\ud800"',
        b'"\\udc00"',
        b'"\\uDBFF"',
        b'"\\ud800x"',
        b'"\\ud800\\u0041"',
        b'"\\ud800\\ud800"',
        b'"\\udc00\\ud800"',
        b'"\\ud800\\n"',
        b'"\\ud800\\"',
        b'"a\\ud83d"',
        b'{"\\ud800":1}',
    ):
        jfails(doc, v.obj({}, v.KEEP) if doc[:1] == b"{" else t, "not valid JSON")
    r = v.parse_json(b'"\\ud83d\\ude00"', t)
    eq((r, len(r)), ("\U0001f600", 1), "an escaped pair is one code point")
    r = v.parse_json(b'["\\uD83D\\uDE00x\\\\ud83d", "\\u00e9\\uDBFF\\uDFFF\\t"]', v.list_of(v.text(allow_control=True)))
    eq(r, ["\U0001f600x\\ud83d", "\u00e9\U0010ffff\t"])
    eq([len(x) for x in r], [8, 3])
    eq(v.parse_json(b'{"\\ud83d\\ude00":1}', v.obj({"\U0001f600": v.integer()})), {"\U0001f600": 1})
    # Length limits count the same characters on both runtimes.
    jfails(b'"' + b"\\ud83d\\ude00" * 5 + b'"', t, "longer than 4")
    eq(len(v.parse_json(b'"' + b"\\ud83d\\ude00" * 4 + b'"', t)), 4)
    # str input: a lone surrogate in the str itself (CPython can hold one).
    if RUNTIME == "cpython":
        jfails('"\ud800"', t, "not valid JSON")


def test_item5_surrogates_from_escapes():
    _both_scans(_item5)


def _item6():
    d = v.obj({"a": v.integer()}, v.DROP)
    eq(v.parse_json(b'{"a":1,"x":{"y":1}}', d), {"a": 1})  # was "duplicate key"
    eq(v.parse_json(b'{"a":1,"x":[{"y":1},{"z":{"w":[]}}]}', d), {"a": 1})
    jfails(b'{"a":1,"x":{"y":1,"y":2}}', d, "duplicate key")  # a duplicate inside a dropped value
    jfails(b'{"a":1,"x":1,"x":2}', d, "duplicate key")
    eq(v.parse_json(b'{"a":1,"x":{"y":1}}', v.obj({"a": v.integer()}, v.KEEP)), {"a": 1, "x": {"y": 1}})


def test_item6_drop_counts_the_members_it_drops():
    _both_scans(_item6)


def test_scan_result_names():
    from sbd.validate import _scan as m

    st = bytearray(4)
    doc = b'{"a":"\\n","b":"\\ud83d\\ude00"}'
    eq(m.scan_py(doc, len(doc), 4, 10, st), 2 * m.SCAN_MEMBER + m.SCAN_CTRL + m.SCAN_PAIRS)
    eq(m.scan_py(b"[[1]]", 5, 1, 10, st), m.E_DEPTH)
    eq(m.scan_py(b"[1,2]", 5, 4, 2, st), m.E_VALUES)
    eq(m.scan_py(b"1" * 33, 33, 4, 2, st), m.E_NUMBER)
    eq(m.scan_py(b"[1,]", 4, 4, 10, st), m.E_SYNTAX)


def test_limits_beyond_the_input_are_clamped():
    # A limit larger than the document can never bind; a huge one must not
    # overflow the viper scan's machine-word arguments on a 32-bit board.
    big = 1 << 70
    eq(v.parse_json(b"[[1,2]]", v.list_of(v.list_of(v.integer())), max_depth=big, max_values=big), [[1, 2]])
    jfails(b"[[1,2]]", v.list_of(v.list_of(v.integer())), "more than 3 values", max_values=3)
    jfails(b"[[1,2]]", v.list_of(v.list_of(v.integer())), "nested deeper than 1", max_depth=1)
    jfails(b"[[[]]]", KEEP, "nested deeper than 2", max_depth=2)
