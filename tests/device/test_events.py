# sbd.events: delivery, isolation of subscriber failures, nesting bound, and
# no allocation when nobody listens.
from dtest import RUNTIME, eq, raises
from sbd import events


def _reset():
    for fn in list(events._subs):
        events.unsubscribe(fn)
    events.errors = 0
    events.dropped = 0


def test_delivery_and_fields():
    _reset()
    got = []
    events.subscribe(lambda n, f: got.append((n, f)))
    events.emit("auth.failure", count=3, reason="bad password")
    eq(got, [("auth.failure", {"count": 3, "reason": "bad password"})])
    _reset()


def test_no_listener_is_a_no_op():
    _reset()
    eq(events.listening, False)
    events.emit("x.y", a=1)  # nothing to deliver, nothing raised
    eq(events.errors, 0)


def test_guarded_emit_allocates_nothing_without_listeners():
    # The guard emitters use on allocation-free paths (rule 1).
    _reset()
    if RUNTIME != "micropython":
        return
    import micropython

    hits = 0
    micropython.heap_lock()
    try:
        for _ in range(100):
            if events.listening:
                events.emit("tick", n=1)
            hits += 1
    finally:
        micropython.heap_unlock()
    eq(hits, 100)


def test_subscriber_exception_never_reaches_the_emitter():
    _reset()
    got = []

    def bad(n, f):
        raise RuntimeError("boom")

    events.subscribe(bad)
    events.subscribe(lambda n, f: got.append(n))
    events.emit("a.b")
    eq(got, ["a.b"])
    eq(events.errors, 1)
    _reset()


def test_keyboard_interrupt_is_not_swallowed():
    _reset()

    def stop(n, f):
        raise KeyboardInterrupt

    events.subscribe(stop)
    raises(KeyboardInterrupt, events.emit, "a.b")
    _reset()


def test_nesting_is_bounded():
    _reset()
    seen = []

    def echo(n, f):
        seen.append(n)
        events.emit(n + ".again")

    events.subscribe(echo)
    events.emit("e")
    # one nested level is delivered, the next is dropped and counted
    eq(seen, ["e", "e.again"])
    eq(events.dropped, 1)
    _reset()


def test_subscribe_rules():
    _reset()
    got = []

    def fn(n, f):
        got.append(n)

    events.subscribe(fn)
    events.subscribe(fn)  # once only
    events.emit("x")
    eq(got, ["x"])
    events.unsubscribe(fn)
    events.unsubscribe(fn)  # unknown: ignored
    eq(events.listening, False)
    fns = [lambda n, f: None for _ in range(8)]
    for f in fns:
        events.subscribe(f)
    raises(ValueError, events.subscribe, lambda n, f: None)
    _reset()


def test_unsubscribe_during_delivery_skips_nobody():
    _reset()
    got = []

    def once(n, f):
        got.append("once")
        events.unsubscribe(once)

    events.subscribe(once)
    events.subscribe(lambda n, f: got.append("second"))
    events.emit("x")
    events.emit("y")
    eq(got, ["once", "second", "second"])
    _reset()


def test_validation_rejections_are_events_without_the_value():
    _reset()
    from sbd import validate as v

    got = []
    events.subscribe(lambda n, f: got.append((n, f)))
    try:
        v.parse_json(
            b'{"ssid": "secret-value-123456789012345678901234567890"}', v.obj({"ssid": v.text(1, 32)}), name="wifi"
        )
    except v.ValidationError:
        pass
    eq(got, [("validation.rejected", {"path": "wifi.ssid", "rule": "longer than 32"})])
    _reset()
