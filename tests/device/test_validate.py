# sbd.validate: errors, paths, the reject hook, objects, lists, null and defaults.
# sbd-device: heapsize=64K timeout=120
from dtest import eq, raises, true
from sbd import validate as v
from sbd.validate import ValidationError
from validate_util import CONFIG, MANIFEST, SHA, WIFI, fails

# ---- the error and the hook ---------------------------------------------------------


def test_error_is_a_value_error_with_path_and_rule():
    e = raises(
        ValueError, v.parse_json, b'{"wifi":{"ssid":"' + b"s" * 33 + b'","password":"12345678"}}', CONFIG, name="config"
    )
    eq(str(e), "config.wifi.ssid: longer than 32")
    eq(e.path, "config.wifi.ssid")
    eq(e.rule, "longer than 32")


def test_path_through_lists():
    files = [{"path": "a", "size": 1, "sha256": SHA} for _ in range(3)]
    files.append({"path": "d", "size": 1048577, "sha256": SHA})
    e = raises(ValidationError, v.validate, {"version": 1, "files": files}, MANIFEST, "manifest")
    eq(str(e), "manifest.files[3].size: above 1048576")


def test_path_of_a_top_level_list_and_of_the_root():
    fails(v.list_of(v.integer(0, 9)), [1, 2, 10], "x[2]", "above 9")
    fails(v.integer(0, 9), 10, "x", "above 9")
    fails(v.list_of(v.list_of(v.integer(0, 9))), [[1], [2, 3, 11]], "x[1][2]", "above 9")


def test_reject_hook_gets_path_and_rule_never_the_value():
    got = []
    v.set_reject_hook(lambda path, rule: got.append((path, rule)))
    try:
        raises(ValidationError, v.validate, {"wifi": {"ssid": "secret-ssid", "password": "hunter2"}}, CONFIG, "config")
        raises(ValidationError, v.parse_json, b"[", CONFIG, name="config")
        v.validate({"wifi": {"ssid": "a", "password": "12345678"}}, CONFIG)  # valid: no event
    finally:
        v.set_reject_hook(None)
    eq(got, [("config.wifi.password", "shorter than 8"), ("config", "not valid JSON")], "events")
    for path, rule in got:
        true("hunter2" not in path + rule and "secret" not in path + rule, "no value in the event")


def test_reject_hook_failure_does_not_hide_the_rejection():
    def bad(path, rule):
        raise RuntimeError("telemetry down")

    v.set_reject_hook(bad)
    try:
        fails(v.integer(0, 1), 2, "x", "above 1")
    finally:
        v.set_reject_hook(None)


def test_no_hook_by_default_after_reset():
    v.set_reject_hook(None)
    fails(v.boolean(), 1, "x", "not a boolean")


# ---- null, optional, defaults ----------------------------------------------------------


def test_nullable():
    s = v.obj({"ip": v.text(7, 15, nullable=True)})
    eq(v.validate({"ip": None}, s), {"ip": None})
    fails(v.obj({"ip": v.text(7, 15)}), {"ip": None}, "x.ip", "null")
    for spec in (
        v.integer(),
        v.number(),
        v.boolean(),
        v.one_of("a"),
        v.hexbytes(),
        v.b64bytes(),
        v.list_of(v.integer()),
        v.obj({}),
    ):
        fails(spec, None, "x", "null")
        eq(v.validate(None, spec[:1] + (spec[1] | 2,) + spec[2:]), None, "nullable")


def test_required_optional_and_defaults():
    s = v.obj(
        {
            "a": v.integer(),
            "b": v.integer(optional=True),
            "c": v.integer(default=7),
            "d": v.text(default="x", nullable=True),
        }
    )
    eq(v.validate({"a": 1}, s), {"a": 1, "c": 7, "d": "x"})
    eq(v.validate({"a": 1, "b": 2, "c": 3, "d": None}, s), {"a": 1, "b": 2, "c": 3, "d": None})
    fails(s, {"b": 2}, "x.a", "missing")
    fails(s, {"a": 1, "c": "7"}, "x.c", "not an integer")


def test_schema_errors_at_construction():
    raises(ValueError, v.integer, 5, 1)
    raises(ValueError, v.number, 5.0, 1.0)
    raises(ValueError, v.text, 5, 1)
    raises(ValueError, v.text, -1, 1)
    raises(ValueError, v.list_of, v.integer(), 3, 2)
    raises(ValueError, v.integer, 0, 9, default=10)
    raises(ValueError, v.text, 0, 4, chars="\u00e9")
    raises(ValueError, v.text, 0, 4, chars="z-a")
    raises(TypeError, v.list_of, v.integer(), default=[])
    raises(ValueError, v.obj, {}, 9)


# ---- lists ------------------------------------------------------------------------


def test_list_rules():
    s = v.list_of(v.integer(0, 9), 1, 3)
    eq(v.validate([1, 2, 3], s), [1, 2, 3])
    fails(s, [], "x", "fewer than 1 items")
    fails(s, [1, 2, 3, 4], "x", "more than 3 items")
    fails(s, (1, 2), "x", "not a list")
    fails(s, {"0": 1}, "x", "not a list")
    fails(v.list_of(v.integer()), list(range(17)), "x", "more than 16 items")


def test_list_items_normalized_in_place():
    eq(v.validate(["00ff"], v.list_of(v.hexbytes())), [b"\x00\xff"])
    eq(v.validate([1, 2.5], v.list_of(v.number())), [1.0, 2.5])


# ---- objects ---------------------------------------------------------------------


def test_object_rules():
    fails(WIFI, [], "x", "not an object")
    fails(WIFI, "x", "x", "not an object")
    fails(CONFIG, {"wifi": {"ssid": "a"}}, "x.wifi.password", "missing")


def test_unknown_field_rejected_by_default():
    fails(WIFI, {"ssid": "a", "password": "12345678", "admin": True}, "x", "unknown field 'admin'")
    # An attacker chooses the key: it is named only when short and plain.
    fails(WIFI, {"ssid": "a", "password": "12345678", "a b": 1}, "x", "unknown field")
    fails(WIFI, {"ssid": "a", "password": "12345678", "k" * 33: 1}, "x", "unknown field")
    fails(WIFI, {"ssid": "a", "password": "12345678", 1: 1}, "x", "unknown field")


def test_unknown_field_drop_and_keep():
    d = v.obj({"a": v.integer()}, v.DROP)
    eq(v.validate({"a": 1, "b": 2, "c": [3]}, d), {"a": 1})
    k = v.obj({"a": v.integer()}, v.KEEP)
    eq(v.validate({"a": 1, "b": {"c": [3]}}, k), {"a": 1, "b": {"c": [3]}})
    fails(k, {"a": "1", "b": 2}, "x.a", "not an integer")
    eq(v.parse_json(b'{"a":1,"b":{"c":[3]}}', k), {"a": 1, "b": {"c": [3]}})


def test_fields_checked_in_name_order():
    # Deterministic on both runtimes (MicroPython dicts are unordered).
    s = v.obj({"b": v.integer(), "a": v.integer()})
    fails(s, {"a": "1", "b": "2"}, "x.a", "not an integer")
