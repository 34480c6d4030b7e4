# sbd.validate.form: query strings and form bodies: decoding, bounds, duplicates.
# sbd-device: heapsize=64K timeout=120
from dtest import eq, raises, true
from sbd import validate as v
from sbd.validate import ValidationError, form
from validate_form_util import BASE, WANT, WIFI, ok, qfails

# ---- decoding ------------------------------------------------------------------------


def test_valid_query_of_every_buffer_type():
    doc = BASE + "&port=8080&hidden=on&gain=-1.5&mode=sta&level=2&pins=3&pins=4&key=0aff&country=GB"
    want = {
        "ssid": "home",
        "password": "12345678",
        "port": 8080,
        "hidden": True,
        "gain": -1.5,
        "mode": "sta",
        "level": 2,
        "pins": [3, 4],
        "key": b"\x0a\xff",
        "country": "GB",
    }
    for data in (doc, doc.encode(), bytearray(doc.encode()), memoryview(doc.encode())):
        eq(ok(data), want, "parse of %s" % type(data).__name__)


def test_parse_form_is_parse_query_named_form():
    eq(form.parse_form(BASE, WIFI), WANT)
    e = raises(ValidationError, form.parse_form, "ssid=home", WIFI)
    eq(str(e), "form.password: missing")
    e = raises(ValidationError, form.parse_query, "ssid=home", WIFI)
    eq(str(e), "query.password: missing")


def test_plus_and_percent_decoding():
    eq(ok("ssid=my+home%20net&password=a%2Bb%26c%3Dd%25")["ssid"], "my home net")
    eq(ok("ssid=x&password=a%2Bb%26c%3Dd%25")["password"], "a+b&c=d%")
    eq(ok("ssid=caf%C3%A9&password=12345678")["ssid"], "caf\u00e9")
    eq(ok("ssid=%f0%9f%98%80&password=12345678")["ssid"], "\U0001f600")  # lower-case hex
    eq(ok("%73sid=x&password=12345678")["ssid"], "x")  # keys are decoded too
    eq(ok("ssid=a=b&password=12345678")["ssid"], "a=b")  # split at the first '='


def test_bad_percent_encoding():
    for bad in ("%", "%4", "a%zz", "%g0", "%0g", "%%41", "ab%2"):
        qfails("ssid=" + bad + "&password=12345678", "bad percent-encoding", "q.ssid")
    qfails("ss%id=x", "bad percent-encoding")  # in a key: no field path


def test_invalid_utf8():
    for bad in (
        "%FF",
        "%C3",
        "%C3%28",
        "%C0%AF",
        "%E0%80%AF",
        "%ED%A0%80",
        "%F4%90%80%80",
        "%F8%88%80%80%80",
        "%E2%82",
        "a%80",
    ):
        qfails("ssid=" + bad + "&password=12345678", "not UTF-8", "q.ssid")
    qfails("%FF=1", "not UTF-8")
    for good in ("%C2%80", "%DF%BF", "%E0%A0%80", "%ED%9F%BF", "%EE%80%80", "%F0%90%80%80", "%F4%8F%BF%BF"):
        true(len(ok("ssid=" + good + "&password=12345678")["ssid"]) == 1, good)


def test_raw_bytes_must_be_url_encoded():
    for bad in (b"ssid=a b", b"ssid=a\tb", b"ssid=caf\xc3\xa9", b"ssid=x\r\n", b"ssid=\x7f", b"ssid=\x00"):
        qfails(bad + b"&password=12345678", "not URL-encoded")
    qfails("ssid=caf\u00e9&password=12345678", "not URL-encoded")


def test_control_characters_after_decoding():
    qfails("ssid=a%0Ab&password=12345678", "control character", "q.ssid")
    qfails("ssid=%00&password=12345678", "control character", "q.ssid")


# ---- bounds before work ---------------------------------------------------------------


def test_size_bound_before_anything():
    qfails(b"\xff" * 1025, "larger than 1024 bytes")
    qfails("a" * 101, "larger than 100 bytes", max_bytes=100)
    qfails(bytearray(101), "larger than 100 bytes", max_bytes=100)
    qfails(memoryview(bytearray(101)), "larger than 100 bytes", max_bytes=100)
    qfails("\u00e9" * 60, "larger than 100 bytes", max_bytes=100)  # 120 bytes
    eq(ok(BASE, max_bytes=len(BASE)), WANT)


def test_field_count_from_schema():
    # 9 scalar fields + a list of at most 3: 12 fields
    qfails(BASE + "&x" * 11, "more than 12 fields")
    qfails(BASE + "&" * 11, "more than 12 fields")  # empty fields count
    eq(ok(BASE + "&&&"), WANT)  # and are skipped
    qfails(BASE + "&port=1", "more than 2 fields", max_fields=2)
    s = v.obj({"a": v.integer()}, v.KEEP)
    eq(len(form.parse_query("&".join(["k%d=1" % i for i in range(32)]) + "&a=1", s, max_fields=33)), 33)
    qfails("&".join(["k%d=1" % i for i in range(32)]) + "&a=1", "more than 32 fields", schema=s)


def test_key_and_value_lengths_before_decoding():
    qfails(BASE + "&" + "k" * 33 + "=1", "key longer than 32 bytes")
    qfails(BASE + "&" + "%41" * 11 + "=1", "key longer than 32 bytes")  # counted as sent
    qfails("ssid=" + "a" * 257 + "&password=12345678", "value longer than 256 bytes", "q.ssid")
    qfails(BASE + "&zz=" + "a" * 257, "value longer than 256 bytes")  # unknown key: no field path
    qfails("ssid=" + "%41" * 11 + "&password=12345678", "value longer than 32 bytes", "q.ssid", max_value=32)
    qfails(BASE + "&port=1", "key longer than 3 bytes", max_key=3)
    qfails("ssid=" + "a" * 33 + "&password=12345678", "longer than 32", "q.ssid")  # then the schema


# ---- duplicates and lists -------------------------------------------------------------


def test_duplicate_keys_rejected():
    qfails(BASE + "&ssid=other", "duplicate key", "q.ssid")
    qfails(BASE + "&port=&port=1", "duplicate key", "q.port")  # also when the first is empty
    qfails("%73sid=a&ssid=b&password=12345678", "duplicate key", "q.ssid")  # after decoding
    keep = v.obj({}, v.KEEP)
    qfails("zz=1&zz=2", "duplicate key", schema=keep)  # unknown key: no field path


def test_repeated_key_of_a_list_field_is_one_item_each():
    eq(ok(BASE + "&pins=1&pins=2&pins=40")["pins"], [1, 2, 40])
    eq(ok(BASE + "&pins=7")["pins"], [7])
    eq(ok(BASE + "&pins=")["pins"], [])  # an empty item is absent
    qfails(BASE + "&pins=1&pins=2&pins=3&pins=4", "more than 3 items", "q.pins")
    qfails(BASE + "&pins=1&pins=x", "not an integer", "q.pins[1]")
    qfails(BASE + "&pins=1&pins=41", "above 40", "q.pins[1]")
    qfails(BASE + "&pins=%zz", "bad percent-encoding", "q.pins[0]")
    s = v.obj({"tags": v.list_of(v.text(1, 8), 1, 2)})
    eq(form.parse_query("tags=a&tags=b+c", s), {"tags": ["a", "b c"]})
    qfails("", "missing", "q.tags", schema=s)
    qfails("tags=", "fewer than 1 items", "q.tags", schema=v.obj({"tags": v.list_of(v.integer(), 1, 2)}))


def test_mutated_inputs_give_a_result_or_validation_error():
    # A small deterministic fuzz on the device runtime itself (the long one runs
    # on CPython: bench/fuzz_validate.py); any other exception fails the test.
    seed = 12345
    pieces = (
        b"%",
        b"%4",
        b"%C3%A9",
        b"%C0%AF",
        b"%FF",
        b"+",
        b"&",
        b"=",
        b"&&",
        b"port=",
        b"pins=1",
        b"1e9",
        b"ssid=x",
        b"-",
        b"0",
        b"on",
        b"\xff",
        b" ",
        b"%00",
        b"zz=1",
    )
    base = (BASE + "&port=8080&hidden=on&gain=-1.5&mode=sta&level=2&pins=3&pins=4&key=0aff").encode()
    outcomes = []  # a few distinct rules (a 64K heap: no growing dict of every message)
    for _ in range(300):
        b = bytearray(base)
        for _ in range(1 + seed % 3):
            seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
            i = seed % (len(b) + 1)
            op = (seed >> 8) % 3
            if op == 0:
                b[i:i] = pieces[(seed >> 12) % len(pieces)]
            elif op == 1:
                b[i : i + 1 + (seed >> 12) % 5] = b""
            elif i < len(b):
                b[i] = 33 + (seed >> 12) % 94
        try:
            form.parse_query(b, WIFI)
            rule = "ok"
        except ValidationError as e:
            rule = e.rule
        if rule not in outcomes and len(outcomes) < 8:
            outcomes.append(rule)
    true(len(outcomes) > 5, "varied outcomes")
