# sbd.telemetry: the bounded ring, sinks that refuse, the allow-list, the
# anomaly rules, and record() without allocation under heap_lock.
# sbd-device: heapsize=64K timeout=60
import json

import fakeboard  # noqa: F401 - a machine module for board.reset_cause()
from dtest import RUNTIME, eq, raises, true
from sbd import events
from sbd import telemetry as t


def _fresh(slots=8, rules=t.DEFAULT_RULES):
    t.stop()
    t.configure(slots, rules)
    t.dropped = t.redacted = t.sent = t.alerts = 0
    for s in list(t._sinks):
        t.remove_sink(s)
    t.on_alert(None)
    t._counters.clear()
    t._gauges.clear()


class Wire:
    def __init__(self, accept=True):
        self.accept = accept
        self.got = []

    def send(self, payload):
        if not self.accept:
            return False
        self.got.append(json.loads(payload))
        return True


def _drain(wire):
    t.add_sink(wire)
    while t.pump(100):
        pass
    t.remove_sink(wire)
    return wire.got


def test_record_goes_out_as_one_json_object():
    _fresh()
    t.record("auth.lockout", 5, 30000)
    got = _drain(Wire())
    eq(len(got), 1)
    m = got[0]
    eq((m["v"], m["ev"], m["f"]), (1, "auth.lockout", {"count": 5, "wait_ms": 30000}))
    true(m["seq"] > 0 and m["t_ms"] >= 0, "seq and time")
    eq(t.sent, 1)


def test_ring_is_bounded_and_counts_drops():
    _fresh(slots=4, rules=())
    for i in range(10):
        t.record("auth.failure", i)
    eq(t.pending(), 4)
    eq(t.dropped, 6)
    got = _drain(Wire())
    eq([m["f"]["count"] for m in got], [6, 7, 8, 9])  # the newest are kept


def test_a_refusing_sink_loses_nothing_within_the_bound():
    _fresh(slots=8, rules=())
    for i in range(5):
        t.record("auth.failure", i)
    down = Wire(accept=False)
    t.add_sink(down)
    eq(t.pump(), 0)
    eq(t.pending(), 5)
    t.remove_sink(down)

    class Raises:
        def send(self, p):
            raise OSError(104)

    r = Raises()
    t.add_sink(r)
    eq(t.pump(), 0)  # an OSError is a refusal, not a crash
    t.remove_sink(r)
    got = _drain(Wire())
    eq([m["f"]["count"] for m in got], [0, 1, 2, 3, 4])
    eq(t.dropped, 0)


def test_pump_is_bounded():
    _fresh(slots=16, rules=())
    for i in range(12):
        t.record("auth.failure", i)
    w = Wire()
    t.add_sink(w)
    eq(t.pump(5), 5)
    eq(t.pending(), 7)
    t.remove_sink(w)


def test_allow_list_drops_undeclared_fields_and_odd_values():
    _fresh()
    t.emit("auth.failure", count=2, password="hunter2", who="alice")
    eq(t.redacted, 2)
    t.record("auth.tamper", b"\x00key-bytes")  # bytes never enter the ring
    eq(t.redacted, 3)
    t.record("auth.ok", "extra")  # auth.ok carries no field
    eq(t.redacted, 4)
    got = _drain(Wire())
    eq([m["f"] for m in got], [{"count": 2}, {}, {}])
    raises(ValueError, t.emit, "no.such", a=1)
    raises(ValueError, t.record, "no.such")


def test_define_refuses_secret_looking_fields():
    _fresh()
    for bad in ("password", "api_key", "Token", "wifi_psk", "pin", "secret"):
        raises(ValueError, t.define, "app.x" + bad[:3], (bad,))
    raises(ValueError, t.define, "nodot", ("a",))
    raises(ValueError, t.define, "app.many", ("a", "b", "c", "d", "e"))
    t.define("app.temp", ("celsius", "sensor"))
    t.emit("app.temp", celsius=21, sensor="s1")
    raises(ValueError, t.define, "app.temp", ("other",))
    eq(_drain(Wire())[0]["f"], {"celsius": 21, "sensor": "s1"})


def test_long_strings_are_cut_on_the_wire():
    _fresh()
    t.record("validation.rejected", "x" * 200, "longer than 32")
    eq(len(_drain(Wire())[0]["f"]["path"]), 48)


def test_every_sdk_event_from_sbd_events_keeps_only_its_fields():
    # Each event the SDK emits today, with a secret riding along in every
    # form a careless emitter might use: only the declared fields go out.
    _fresh(slots=32, rules=())
    t.start()
    secret = "S3cr3t-Value-9"
    cases = {
        "auth.ok": {},
        "auth.failure": {"count": 3},
        "auth.lockout": {"count": 5, "wait_ms": 1000},
        "auth.changed": {},
        "auth.factory_reset": {},
        "auth.tamper": {"what": "state file"},
        "validation.rejected": {"path": "wifi.ssid", "rule": "longer than 32"},
    }
    for name, fields in cases.items():
        f = dict(fields)
        f["password"] = secret
        f["value"] = secret
        events.emit(name, **f)
    events.emit("other.module", secret=secret)  # undeclared: name only
    t.stop()
    got = _drain(Wire())
    eq(sorted(m["ev"] for m in got), sorted(list(cases) + ["other.module"]))
    for m in got:
        eq(m["f"], cases.get(m["ev"], {}), m["ev"])
        true(secret not in json.dumps(m), "secret on the wire")


def test_rule_raises_one_alert_per_window():
    _fresh(slots=32, rules=(("fails", "auth.failure", 3, 60),))
    fired = []
    t.on_alert(fired.append)
    for i in range(7):
        t.record("auth.failure", i)
    eq(fired, ["fails", "fails"])  # at the 3rd and the 6th
    eq(t.alerts, 2)
    alerts = [m for m in _drain(Wire()) if m["ev"] == "security.alert"]
    eq(alerts[0]["f"], {"rule": "fails", "event": "auth.failure", "count": 3, "window_s": 60})


def test_rules_are_validated():
    _fresh()
    for bad in (
        (("r", "auth.failure", 0, 60),),
        (("r", "auth.failure", 65, 60),),
        (("r", "auth.failure", 3, 0),),
        (("r", "auth.failure", 3, 86401),),
        (("r", "no.such", 3, 60),),
        (("r", "security.alert", 3, 60),),
        (("", "auth.failure", 3, 60),),
        (("r", "auth.failure", "3", 60),),
        (("r", "auth.failure", 3),),
        (("r", "auth.failure", 3, 60),) * 9,
    ):
        raises(ValueError, t.configure, 8, bad)
    raises(ValueError, t.configure, 3, ())
    raises(ValueError, t.configure, 257, ())
    t.record("auth.ok")
    eq(t.pending(), 1)  # a refused configuration changed nothing


def test_sample_reports_system_metrics_and_values():
    _fresh()
    t.counter("app.loops")
    t.counter("app.loops", 2)
    t.gauge("app.temp", 21)
    t.sample()
    got = _drain(Wire())
    m = got[0]["f"]
    eq(got[0]["ev"], "sys.metrics")
    eq(m["reset_cause"], "power_on")
    true(m["heap_free"] > 0 and m["uptime_s"] >= 0, "metrics")
    eq(got[1]["f"], {"counters": {"app.loops": 3}, "gauges": {"app.temp": 21}})


def test_log_sink_writes_lines():
    _fresh()

    class Buf:
        def __init__(self):
            self.parts = []

        def write(self, b):
            self.parts.append(bytes(b))

    b = Buf()
    s = t.LogSink(b)
    t.add_sink(s)
    t.record("auth.ok")
    eq(t.pump(), 1)
    t.remove_sink(s)
    eq(json.loads(b.parts[0])["ev"], "auth.ok")
    eq(b.parts[1], b"\n")


def test_record_allocates_nothing():
    # Rule 3, with a rule firing inside the locked section.
    _fresh(slots=8, rules=(("fails", "auth.failure", 3, 60),))
    t.counter("app.loops")
    t.gauge("app.level", 0)  # first use declares
    if RUNTIME != "micropython":
        return
    import micropython

    micropython.heap_lock()
    try:
        for i in range(50):
            t.record("auth.failure", i)
            t.record("validation.rejected", "cfg.x", "too long")
            t.counter("app.loops")
            t.gauge("app.level", i)
    finally:
        micropython.heap_unlock()
    eq(t.dropped, 50 * 2 + 16 - 8)
    eq(t.alerts, 16)
    eq(t._counters["app.loops"], 51)


def test_a_sink_that_records_into_a_full_ring_does_not_lose_the_next_event():
    # pump() removes the event it sent only if it is still at the head: a
    # sink whose send() records (a reconnect report, say) into a full ring
    # has already pushed it out, and removing "the head" then would drop an
    # event nobody sent.
    _fresh(slots=4, rules=())
    for i in range(4):
        t.record("auth.failure", i)
    got = []

    class Noisy:
        def send(self, p):
            got.append(json.loads(p)["f"])
            if len(got) == 1:
                t.record("auth.ok")
            return True

    s = Noisy()
    t.add_sink(s)
    while t.pump():
        pass
    t.remove_sink(s)
    eq(got, [{"count": 0}, {"count": 1}, {"count": 2}, {"count": 3}, {}])
    eq(t.dropped, 1)  # the first, overwritten after it went out
