# Shared helpers and schemas for the sbd.validate device tests.
from dtest import eq, raises
from sbd import validate as v
from sbd.validate import ValidationError

# The examples, as schemas built once at import.
WIFI = v.obj({"ssid": v.text(1, 32), "password": v.text(8, 63), "hidden": v.boolean(default=False)})
CONFIG = v.obj({"wifi": WIFI, "name": v.text(1, 16, chars=v.IDENT, optional=True)})
FILE = v.obj({"path": v.text(1, 64), "size": v.integer(0, 1048576), "sha256": v.hexbytes(32, 32)})
MANIFEST = v.obj({"version": v.integer(1), "files": v.list_of(FILE, 1, 8)})
SHA = "00" * 32


def fails(schema, value, path, rule):
    e = raises(ValidationError, v.validate, value, schema, "x")
    eq((e.path, e.rule), (path, rule), "rejection")
    eq(str(e), path + ": " + rule, "message")
    return e


def jfails(data, schema, rule, path="x", **kw):
    e = raises(ValidationError, v.parse_json, data, schema, name="x", **kw)
    if (e.path, e.rule) != (path, rule):  # the repr only then: it may not fit a 64 KiB heap
        eq((e.path, e.rule), (path, rule), "rejection of %r" % (data[:200],))
    return e
