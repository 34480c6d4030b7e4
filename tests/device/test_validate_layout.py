# sbd.validate.layout: fixed binary records, every rule and message.
# sbd-device: heapsize=64K timeout=120
from dtest import eq, raises, true
from sbd import validate as v
from sbd.validate import ValidationError
from sbd.validate.layout import Layout


def _even(x):
    return None if x % 2 == 0 else "odd"


HEADER = Layout(
    "record",
    ("magic", "4s", b"SBD1"),
    ("version", "B", (1, 1)),
    ("kind", "B", {1, 2, 7}),
    ("length", "<H", (0, 1024)),
    ("reserved", "2s", b"\0\0"),
    ("pad", "1x"),
    ("crc", "<I"),
    ("step", "<h", _even),
)
GOOD = b"SBD1\x01\x02\x00\x04\x00\x00\xee\x78\x56\x34\x12\xfe\xff"
WANT = {"magic": b"SBD1", "version": 1, "kind": 2, "length": 1024, "reserved": b"\0\0", "crc": 0x12345678, "step": -2}


def lfails(layout, data, rule, path="record", **kw):
    e = raises(ValidationError, layout.parse, data, **kw)
    eq((e.path, e.rule), (path, rule), "rejection")
    eq(str(e), path + ": " + rule, "message")
    return e


def put(i, b):
    return GOOD[:i] + b + GOOD[i + len(b) :]


def test_parse_valid_record_of_every_buffer_type():
    eq(HEADER.size, 17)
    eq(HEADER.names, ("magic", "version", "kind", "length", "reserved", "crc", "step"))
    for data in (GOOD, bytearray(GOOD), memoryview(GOOD)):
        eq(HEADER.parse(data), WANT, type(data).__name__)


def test_size_checked_before_unpacking():
    lfails(HEADER, GOOD[:-1], "shorter than 17 bytes")
    lfails(HEADER, b"", "shorter than 17 bytes")
    lfails(HEADER, GOOD + b"\0", "longer than 17 bytes")
    eq(HEADER.parse(memoryview(GOOD + b"payload"), exact=False), WANT)  # a header before a payload
    lfails(HEADER, GOOD[:16], "shorter than 17 bytes", exact=False)


def test_exact_values():
    lfails(HEADER, put(0, b"SBD2"), "not SBD1", "record.magic")
    lfails(HEADER, put(9, b"\x01"), "not 0x0000", "record.reserved")  # unprintable: in hex
    lay = Layout("r", ("v", "B", 3))
    eq(lay.parse(b"\x03"), {"v": 3})
    lfails(lay, b"\x04", "not 3", "r.v")


def test_ranges():
    lfails(HEADER, put(4, b"\x00"), "below 1", "record.version")
    lfails(HEADER, put(4, b"\x02"), "above 1", "record.version")
    lfails(HEADER, put(6, b"\x01\x04"), "above 1024", "record.length")
    eq(HEADER.parse(put(6, b"\x00\x00"))["length"], 0)
    lay = Layout("r", ("t", ">i", (-40, 85)))
    eq(lay.parse(b"\xff\xff\xff\xd8"), {"t": -40})
    lfails(lay, b"\xff\xff\xff\xd7", "below -40", "r.t")
    lfails(lay, b"\x00\x00\x00\x56", "above 85", "r.t")


def test_sets():
    lfails(HEADER, put(5, b"\x03"), "not one of 1, 2, 7", "record.kind")
    eq(HEADER.parse(put(5, b"\x07"))["kind"], 7)
    lay = Layout("r", ("tag", "2s", {b"OK", b"\x00\x01"}))
    eq(lay.parse(b"OK"), {"tag": b"OK"})
    lfails(lay, b"NO", "not one of 0x0001, OK", "r.tag")


def test_check_functions():
    lfails(HEADER, put(15, b"\x01\x00"), "odd", "record.step")

    def boom(x):
        raise ValueError("x")

    lfails(Layout("r", ("a", "B", boom)), b"\x00", "rejected by check", "r.a")


def test_byte_orders_and_widths():
    lay = Layout("r", ("a", ">H"), ("b", ">I"), ("c", ">q"), ("d", "b"))
    eq(lay.size, 15)
    eq(
        lay.parse(b"\x01\x02\x00\x00\x00\x03\xff\xff\xff\xff\xff\xff\xff\xfe\xff"),
        {"a": 0x0102, "b": 3, "c": -2, "d": -1},
    )
    eq(Layout("r", ("a", "!H")).parse(b"\x01\x02"), {"a": 0x0102})
    eq(Layout("r", ("a", "<Q")).parse(b"\xff" * 8), {"a": 0xFFFFFFFFFFFFFFFF})
    eq(Layout("r", ("a", "B"), ("b", "3x"), ("c", "B")).size, 5)  # one-byte fields: no alignment


def test_name_override():
    lfails(HEADER, b"", "shorter than 17 bytes", "hdr", name="hdr")


def test_bad_layouts_are_programming_errors():
    for fields, exc, msg in (
        ((("a", "H"),), ValueError, "a: byte order required"),
        ((("a", "@H"),), ValueError, "a: native byte order"),
        ((("a", "=H"),), ValueError, "a: native byte order"),
        ((("a", "<H"), ("b", ">H")), ValueError, "b: one byte order per layout"),
        ((("a", "s"),), ValueError, "a: a count is required"),
        ((("a", "0s"),), ValueError, "a: a count is required"),
        ((("a", "<2H"),), ValueError, "a: bad format"),
        ((("a", "<f"),), ValueError, "a: bad format"),
        ((("a", ""),), ValueError, "a: bad format"),
        ((("a", "x4s"),), ValueError, "a: bad format"),
        ((("a", "B", (2, 1)),), ValueError, "a: bad range"),
        ((("a", "2x", 1),), ValueError, "a: padding has no value"),
        ((("a", "B"), ("a", "B")), ValueError, "a: duplicate field"),
        ((("a", "B", {b"x"}),), TypeError, "a: set values of the field's type"),
        ((("a", "B", 1.5),), TypeError, "a: bad check"),
        ((("a", "2s", (1, 2)),), TypeError, "a: bad check"),
        ((("a", "B", set()),), TypeError, "a: bad check"),
        ((("a",),), TypeError, "a field is (name, format[, check])"),
        (("a",), TypeError, "a field is (name, format[, check])"),
    ):
        e = raises(exc, Layout, "r", *fields)
        eq(str(e), msg, repr(fields))


def test_pack_round_trip_and_rules():
    eq(HEADER.pack(WANT), GOOD[:10] + b"\0" + GOOD[11:])  # padding packs as zero
    eq(HEADER.parse(HEADER.pack(WANT)), WANT)
    bad = dict(WANT)
    del bad["crc"]
    for change, path, rule in (
        ({"length": 1025}, "record.length", "above 1024"),
        ({"magic": b"SBD2"}, "record.magic", "not SBD1"),
        ({"magic": b"SBD"}, "record.magic", "not 4 bytes"),
        ({"magic": "SBD1"}, "record.magic", "not bytes"),
        ({"kind": True}, "record.kind", "not an integer"),
        ({"crc": -1}, "record.crc", "does not fit the format"),
        ({"crc": 1 << 32}, "record.crc", "does not fit the format"),
        ({"step": 1}, "record.step", "odd"),
    ):
        d = dict(WANT)
        d.update(change)
        e = raises(ValidationError, HEADER.pack, d)
        eq((e.path, e.rule), (path, rule), repr(change))
    e = raises(ValidationError, HEADER.pack, bad)
    eq(str(e), "record.crc: missing")


def test_reject_hook_gets_path_and_rule():
    got = []
    v.set_reject_hook(lambda path, rule: got.append((path, rule)))
    try:
        raises(ValidationError, HEADER.parse, put(6, b"\xff\xff"))
        raises(ValidationError, HEADER.parse, b"")
        HEADER.parse(GOOD)  # valid: no event
    finally:
        v.set_reject_hook(None)
    eq(got, [("record.length", "above 1024"), ("record", "shorter than 17 bytes")], "events")
    true("65535" not in repr(got), "no value in the event")


def test_mutated_records_give_a_result_or_validation_error():
    seed = 54321
    outcomes = []  # a few distinct rules (a 64K heap: no growing dict of every message)
    for _ in range(300):
        b = bytearray(GOOD)
        for _ in range(1 + seed % 3):
            seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
            i = seed % len(b)
            op = (seed >> 8) % 4
            if op < 2:
                b[i] = (seed >> 12) & 0xFF
            elif op == 2:
                b[i : i + 1] = b""
            else:
                b[i:i] = b"\0"
        try:
            r = HEADER.parse(b)
            eq(HEADER.parse(HEADER.pack(r)), r, "round trip")
            rule = "ok"
        except ValidationError as e:
            rule = e.rule
        if rule not in outcomes and len(outcomes) < 8:
            outcomes.append(rule)
    true(len(outcomes) > 5, "varied outcomes")
