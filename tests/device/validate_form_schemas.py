# The schemas the form / query-string and binary-layout fuzzing uses, in one
# place: tests/host/validate_form_fuzzing.py generates and judges inputs with
# them, and tests/device/test_validate_form_corpus.py replays the saved corpus
# with them on both runtimes (so the two can never drift apart).
from sbd import validate as v
from sbd.validate.layout import Layout

FORM_MAX_BYTES = 512
FORM = v.obj(
    {
        "ssid": v.text(1, 32),
        "password": v.text(8, 63),
        "port": v.integer(1, 65535, default=80),
        "hidden": v.boolean(default=False),
        "gain": v.number(-10, 10, optional=True),
        "mode": v.one_of("ap", "sta", optional=True),
        "level": v.one_of(1, 2, 3, optional=True),
        "pins": v.list_of(v.integer(0, 40), 0, 3, optional=True),
        "key": v.hexbytes(2, 2, optional=True),
    }
)
FORM_KEEP = v.obj({"a": v.integer(0, 9, optional=True), "t": v.text(0, 20, optional=True)}, v.KEEP)
FORMS = {"wifi": FORM, "keep": FORM_KEEP}

HEADER = Layout(
    "record",
    ("magic", "4s", b"SBD1"),
    ("version", "B", (1, 1)),
    ("kind", "B", {1, 2, 7}),
    ("length", "<H", (0, 1024)),
    ("reserved", "2s", b"\0\0"),
    ("pad", "1x"),
    ("crc", "<I"),
    ("step", "<h", (-100, 100)),
)
SAMPLE = Layout("sample", ("id", ">Q"), ("t", ">i", (-40000, 85000)), ("flags", "B", {0, 1, 2, 4}), ("rssi", "b"))
LAYOUTS = {"header": HEADER, "sample": SAMPLE}
