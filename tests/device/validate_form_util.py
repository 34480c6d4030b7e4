# Shared schema and helpers for the sbd.validate.form device tests.
from dtest import eq, raises
from sbd import validate as v
from sbd.validate import ValidationError, form

WIFI = v.obj(
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
        "country": v.text(2, 2, chars="A-Z", optional=True),
    }
)
BASE = "ssid=home&password=12345678"
WANT = {"ssid": "home", "password": "12345678", "port": 80, "hidden": False}


def qfails(data, rule, path="q", schema=WIFI, **kw):
    e = raises(ValidationError, form.parse_query, data, schema, name="q", **kw)
    if (e.path, e.rule) != (path, rule):  # the message only when needed: the heap is 64K
        eq((e.path, e.rule), (path, rule), "rejection of %r" % (data[:60],))
    eq(str(e), path + ": " + rule, "message")
    return e


def ok(data, schema=WIFI, **kw):
    return form.parse_query(data, schema, **kw)
