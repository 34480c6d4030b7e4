# sbd.validate.form: converting values, the schema, the reject hook.
# sbd-device: heapsize=64K timeout=120
from dtest import eq, raises, true
from sbd import validate as v
from sbd.validate import ValidationError, form
from validate_form_util import BASE, WANT, WIFI, ok, qfails

# ---- conversion ------------------------------------------------------------------------


def test_integer_conversion_is_canonical_decimal():
    for text, want in (("1", 1), ("65535", 65535), ("00", None)):
        if want is not None:
            eq(ok(BASE + "&port=" + text)["port"], want)
    for bad in ("08", "+1", "1.0", "1e3", "0x10", "%201", "1%20", "1_0", "-", "--1", "one", "%D9%A1"):
        qfails(BASE + "&port=" + bad, "not an integer", "q.port")
    qfails(BASE + "&port=0", "below 1", "q.port")
    qfails(BASE + "&port=-0", "below 1", "q.port")
    qfails(BASE + "&port=65536", "above 65535", "q.port")
    qfails(BASE + "&port=" + "9" * 200, "above 65535", "q.port")


def test_number_conversion_is_the_json_grammar():
    for text, want in (
        ("0", 0.0),
        ("-1.5", -1.5),
        ("1e1", 10.0),
        ("2.5E-1", 0.25),
        ("1e%2B0", 1.0),
        ("1e-0", 1.0),
        ("-0", 0.0),
    ):
        eq(ok(BASE + "&gain=" + text)["gain"], want, text)
    for bad in ("1.", ".5", "+1", "01", "1e", "1e+", "inf", "nan", "1,5", "0x1", "1_0", "--1", "-"):
        qfails(BASE + "&gain=" + bad, "not a number", "q.gain")
    qfails(BASE + "&gain=1e400", "not finite", "q.gain")
    qfails(BASE + "&gain=11", "above 10", "q.gain")
    qfails(BASE + "&gain=-10.5", "below -10", "q.gain")


def test_boolean_conversion():
    for text, want in (("true", True), ("on", True), ("1", True), ("false", False), ("off", False), ("0", False)):
        eq(ok(BASE + "&hidden=" + text)["hidden"], want, text)
    for bad in ("True", "yes", "2", "ON", "t"):
        qfails(BASE + "&hidden=" + bad, "not a boolean", "q.hidden")
    eq(ok(BASE)["hidden"], False)  # an unchecked checkbox is not sent: the default


def test_enums():
    eq(ok(BASE + "&mode=ap")["mode"], "ap")
    qfails(BASE + "&mode=AP", "not one of ap, sta", "q.mode")
    qfails(BASE + "&mode=", "not one of ap, sta", "q.mode")  # a str enum gets the empty text
    eq(ok(BASE + "&level=3")["level"], 3)
    for bad in ("4", "x", "03", "1.0"):
        qfails(BASE + "&level=" + bad, "not one of 1, 2, 3", "q.level")


def test_empty_value_of_a_non_text_field_is_absent():
    eq(ok(BASE + "&port=&hidden=&gain=&level="), WANT)
    qfails("ssid=home&password=12345678&x=", "unknown field 'x'")
    req = v.obj({"n": v.integer()})
    qfails("n=", "missing", "q.n", schema=req)
    qfails("n", "missing", "q.n", schema=req)  # no '=': an empty value


def test_text_fields_get_the_text():
    qfails("ssid&password=12345678", "shorter than 1", "q.ssid")
    qfails("ssid=&password=12345678", "shorter than 1", "q.ssid")
    qfails(BASE + "&country=gb", "character outside A-Z", "q.country")
    eq(ok(BASE + "&key=00FF")["key"], b"\x00\xff")
    qfails(BASE + "&key=0g0g", "not hex", "q.key")


# ---- the schema ------------------------------------------------------------------------


def test_unknown_fields_follow_the_obj_policy():
    qfails(BASE + "&debug=1", "unknown field 'debug'")
    qfails(BASE + "&%3Cscript%3E=1", "unknown field")  # an odd key is never echoed
    eq(
        form.parse_query(BASE + "&debug=1", v.obj({"ssid": v.text(), "password": v.text()}, v.DROP)),
        {"ssid": "home", "password": "12345678"},
    )
    eq(form.parse_query("a=1&debug=1", v.obj({"a": v.integer()}, v.KEEP)), {"a": 1, "debug": "1"})


def test_empty_query():
    eq(form.parse_query("", v.obj({"a": v.integer(default=3)})), {"a": 3})
    eq(form.parse_query(b"", v.obj({})), {})
    qfails("", "missing", "q.password")


def test_schema_must_be_flat_obj():
    raises(TypeError, form.parse_query, "a=1", v.integer())
    raises(TypeError, form.parse_query, "a=1", v.obj({"a": v.obj({})}))
    raises(TypeError, form.parse_query, "a=1", v.obj({"a": v.list_of(v.list_of(v.integer()))}))
    raises(TypeError, form.parse_query, "a=1", v.obj({"a": v.list_of(v.obj({}))}))


def test_reject_hook_gets_path_and_rule_never_the_value():
    got = []
    v.set_reject_hook(lambda path, rule: got.append((path, rule)))
    try:
        raises(ValidationError, form.parse_form, "ssid=secret-net&password=hunter2", WIFI)
        raises(ValidationError, form.parse_form, "ssid=secret-net&password=%zz", WIFI)
        form.parse_form(BASE, WIFI)  # valid: no event
    finally:
        v.set_reject_hook(None)
    eq(got, [("form.password", "shorter than 8"), ("form.password", "bad percent-encoding")], "events")
    for path, rule in got:
        true("hunter2" not in path + rule and "secret" not in path + rule, "no value in the event")
