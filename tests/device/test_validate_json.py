# sbd.validate.parse_json and its pre-scan: every bound and every message.
# sbd-device: heapsize=64K timeout=120
from dtest import RUNTIME, eq, true
from sbd import validate as v
from validate_util import CONFIG, jfails

# ---- parse_json ------------------------------------------------------------------


def test_parse_json_valid_inputs_of_every_buffer_type():
    doc = b'{"wifi":{"ssid":"home","password":"12345678"},"name":"dev-1"}'
    want = {"wifi": {"ssid": "home", "password": "12345678", "hidden": False}, "name": "dev-1"}
    eq(v.parse_json(doc, CONFIG), want, "bytes")
    eq(v.parse_json(bytearray(doc), CONFIG), want, "bytearray")
    eq(v.parse_json(memoryview(doc), CONFIG), want, "memoryview")
    eq(v.parse_json(doc.decode(), CONFIG), want, "str")


def test_parse_json_size_bound_before_anything():
    jfails(b" " * 2049, v.integer(), "larger than 2048 bytes")
    jfails(b"[" * 101, v.integer(), "larger than 100 bytes", max_bytes=100)
    jfails("\u00e9" * 60, v.text(), "larger than 100 bytes", max_bytes=100)  # 120 bytes
    eq(v.parse_json(b"  7  ", v.integer(), max_bytes=5), 7)


def test_parse_json_depth_from_schema():
    s = v.obj({"a": v.list_of(v.integer())})  # depth 2
    eq(v.parse_json(b'{"a":[1]}', s), {"a": [1]})
    jfails(b'{"a":[[1]]}', s, "nested deeper than 2")
    jfails(b"[" * 1000 + b"]" * 1000, s, "nested deeper than 2")
    jfails(b'{"a":[[1]]}', s, "nested deeper than 1", max_depth=1)
    # brackets inside strings do not count
    eq(
        v.parse_json(b'{"a":[1],"b":"[[[{{{"}', v.obj({"a": v.list_of(v.integer()), "b": v.text()})),
        {"a": [1], "b": "[[[{{{"},
    )


def test_parse_json_value_count_from_schema():
    s = v.list_of(v.integer(), 0, 4)
    eq(v.parse_json(b"[1,2,3,4]", s), [1, 2, 3, 4])
    jfails(b"[" + b"1," * 600 + b"1]", s, "more than 6 values")
    jfails(b"[1,2,3,4,5,6]", s, "more than 6 values")
    jfails(b"[1,2,3,4,5]", s, "more than 4 items")  # within the bound: the schema says why
    jfails(b"[1,2,3]", s, "more than 2 values", max_values=2)


def test_parse_json_keep_objects_use_default_limits():
    k = v.obj({}, v.KEEP)
    jfails(b'{"a":' + b"[" * 9 + b"]" * 9 + b"}", k, "nested deeper than 8")
    jfails(b'{"a":[' + b"0," * 300 + b"0]}", k, "more than 256 values")
    eq(v.parse_json(b'{"a":[[[[1]]]]}', k, max_depth=5), {"a": [[[[1]]]]})


def test_parse_json_not_json():
    s = v.obj({}, v.KEEP)
    for doc in (
        b"",
        b" ",
        b"{",
        b"}",
        b'{"a":"b',
        b'{"a":1}]',
        b"[1] x",
        b"tru",
        b".5",
        b'"\xff\xfe"',
        b"\xef\xbb\xbf{}",
        b"{'a':1}",
        b"\x00",
        b"-",
        b"[1,2",
    ):
        jfails(doc, s, "not valid JSON")


def test_parse_json_duplicate_keys():
    s = v.obj({"a": v.integer()})
    jfails(b'{"a":1,"a":2}', s, "duplicate key")
    k = v.obj({"a": v.integer()}, v.KEEP)
    jfails(b'{"a":1,"b":{"c":1,"c":2}}', k, "duplicate key")
    d = v.obj({"a": v.integer()}, v.DROP)
    jfails(b'{"a":1,"b":1,"b":2}', d, "duplicate key")
    eq(v.parse_json(b'{"a":1,"b":"x:y"}', d), {"a": 1}, "colons in strings are not members")


def test_parse_json_rejects_micropython_lax_syntax():
    # MicroPython's json accepts these; CPython's does not: the pre-scan
    # refuses them as syntax (before issue 7, some reached "duplicate key").
    s = v.obj({"a": v.integer()}, v.KEEP)
    for doc in (b'{"a" 1}', b'{"a":1,"b" 2}'):
        jfails(doc, s, "not valid JSON")


def test_parse_json_validates_after_loading():
    jfails(b'{"wifi":{"ssid":"","password":"12345678"}}', CONFIG, "shorter than 1", "x.wifi.ssid")


# ---- the pre-scan ----------------------------------------------------------------

SCAN_DOCS = (
    b'{"a":[1,{"b":"]\\\\"},"c\\"d:,[{"],"e":2}',
    b'["a\\"b", "\\\\", "x\\\\\\"y"]',
    b'"unterminated\\"',
    b"[[[[[[[[[[]]]]]]]]]]",
    b"]",
    b"[}",
    b'{"k":"v\\u0000"}',
    b'["a\x01"]',
    b'["\x7f", "\x1f"]',
    b'{"a":1,"b":[1,2,3],"c":{"d":"e:f"}}',
    b'{"caf\xc3\xa9":"\xc0\xaf","x":["\\\xff"]}',
)


def test_scanners_agree():
    from sbd.validate._scan import scan_py

    native = v.use_native_scan(True)
    if RUNTIME == "micropython":
        true(native, "viper pre-scan available on the unix port")
    fast = v._scanner()
    for doc in SCAN_DOCS:
        for lim in ((1, 3), (4, 8), (20, 100)):
            st = bytearray(lim[0])
            eq(fast(doc, len(doc), lim[0], lim[1], st), scan_py(doc, len(doc), lim[0], lim[1], st), repr(doc))


def test_parse_json_raw_control_bytes_in_strings():
    # Not JSON; MicroPython's json would take them, CPython's would not.
    for doc in (b'{"t":"a\x01"}', b'["\x00"]', b'["\n"]', b'{"\t":1}'):
        jfails(doc, v.obj({}, v.KEEP), "not valid JSON")


def test_parse_json_strict_utf8():
    # MicroPython's json takes overlong forms (C0 AF would be "/"), surrogates
    # and code points above U+10FFFF; CPython's does not: both must refuse.
    s = v.obj({}, v.KEEP)
    for bad in (
        b"\xc0\xaf",
        b"\xe0\x80\xaf",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\xf8\x88\x80\x80\x80",
        b"\xff",
        b"\xc3",
        b"\xe2\x82",
        b"a\x80",
    ):
        jfails(b'{"t":"' + bad + b'"}', s, "not valid JSON")
        jfails(b'{"' + bad + b'":1}', s, "not valid JSON")
    for good in (b"\xc2\x80", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xed\x9f\xbf", b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf"):
        eq(len(v.parse_json(b'{"t":"' + good + b'"}', s)["t"]), 1, repr(good))
    eq(v.parse_json(b'["caf\xc3\xa9"]', v.list_of(v.text())), ["caf\u00e9"])


def test_portable_scan_gives_the_same_answers():
    from test_validate_scalars import test_text_control_characters_from_json

    v.use_native_scan(False)
    try:
        test_parse_json_depth_from_schema()
        test_parse_json_duplicate_keys()
        test_parse_json_not_json()
        test_text_control_characters_from_json()
        test_parse_json_strict_utf8()
    finally:
        v.use_native_scan(True)
