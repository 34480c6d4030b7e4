# sbd.telemetry: security events, system metrics, counters, gauges and app
# events in one bounded ring, drained to sinks (MQTT through sbd.net.mqtt, a
# serial log, a callback) when the app calls pump().  docs/telemetry.md holds
# the schema (version SCHEMA) and the wire format.  Rules, in order:
#   1. bounded: events wait in a ring of `slots` preallocated slots (the RAM
#      ring and the offline queue are the same thing); when it is full the
#      oldest event is overwritten and counted in `dropped`;
#   2. nothing blocks the app: record/emit only write the ring; pump() hands
#      at most `limit` events to the sinks and stops at the first sink that
#      refuses (the event stays queued, nothing within the bound is lost);
#   3. record(name, a, b, c, d) allocates nothing once the module is set up
#      (ints, bools, None and existing strings; tests/device/test_telemetry.py
#      proves it under micropython.heap_lock()); emit(name, **fields) is the
#      convenient form, and on MicroPython every **kwargs call builds a dict;
#   4. privacy by allow-list: every event name is declared with the field
#      names it may carry (EVENTS below, define() for the app); other fields,
#      and values that are not int, float, bool, None or str, never enter the
#      ring and are counted in `redacted`; field names that look like secrets
#      cannot be declared; strings are cut to _MAX_STR on the wire;
#   5. anomaly rules: `threshold` events of one name within `window_s`
#      seconds record a security.alert (once, then the window starts again);
#      configure() validates every rule and refuses bad ones as a whole;
#   6. sbd.events feeds the ring once start() subscribes to it.
import time

from micropython import const

from sbd import events

SCHEMA = const(1)
_NF = const(4)  # fields per event at most
_MAX_STR = const(48)  # characters of a string value on the wire
_MIN_SLOTS = const(4)
_MAX_SLOTS = const(256)
_MAX_RULES = const(8)
_MAX_THRESHOLD = const(64)
_MAX_WINDOW_S = const(86400)  # ticks_ms wraps after 2**29 ms on the boards
_MAX_DEFINED = const(32)

# The catalogue: every event the SDK emits today and the fields it may carry.
EVENTS = {
    "auth.ok": (),
    "auth.failure": ("count",),
    "auth.lockout": ("count", "wait_ms"),
    "auth.changed": (),
    "auth.factory_reset": (),
    "auth.tamper": ("what",),
    "validation.rejected": ("path", "rule"),
    "security.alert": ("rule", "event", "count", "window_s"),
    "sys.metrics": ("uptime_s", "heap_free", "reset_cause", "dropped"),
    "sys.values": ("counters", "gauges"),
    "net.tls_unverified": ("host",),
    "net.plaintext_login": ("host",),
    "net.reconnect": ("attempts",),
    "creds.tamper": ("what",),
    "creds.set": ("entry",),
    "creds.deleted": ("entry",),
    "creds.wiped": ("kept",),
    "privacy.wiped": (),
    "privacy.wipe_resumed": (),
    "privacy.wipe_refused": (),
    "ota.rejected": ("reason",),
    "ota.installed": ("release", "firmware"),
    "ota.rolled_back": ("release", "to", "reason"),
    "boot.rollback": ("release", "firmware"),
    "boot.mismatch": ("release",),
    "boot.safe_mode": (),
    "lockdown.app_error": ("error",),
}

# Parts of a field name that mean a secret: such a field cannot be declared.
_SECRET_WORDS = ("pass", "secret", "key", "token", "pin", "cred", "psk")

DEFAULT_RULES = (
    ("auth_failures_per_min", "auth.failure", 5, 60),
    ("validation_rejects_per_min", "validation.rejected", 20, 60),
)

dropped = 0  # events overwritten in a full ring
redacted = 0  # fields and values refused by the allow-list
sent = 0  # events every sink accepted
alerts = 0  # security.alert events raised

_n = 0
_names = []
_times = []
_vals = []
_seqs = []
_head = 0  # next event to send
_len = 0
_seq = 0
_rules = []  # [name, event, threshold, window_ms, times, pos, filled]
_sinks = []
_counters = {}
_gauges = {}
_specs = {}
_t0 = time.ticks_ms()
_alert_hook = None


def configure(slots=32, rules=DEFAULT_RULES):
    """Set the ring size and the anomaly rules; drops what is queued.

    rules: (name, event, threshold, window_s) tuples.  Raises ValueError and
    changes nothing when any value is out of bounds."""
    global _n, _names, _times, _vals, _seqs, _head, _len, _rules
    if type(slots) is not int or not _MIN_SLOTS <= slots <= _MAX_SLOTS:
        raise ValueError("slots out of range")
    if len(rules) > _MAX_RULES:
        raise ValueError("too many rules")
    new = []
    for r in rules:
        if len(r) != 4:
            raise ValueError("a rule is (name, event, threshold, window_s)")
        name, ev, th, win = r
        if type(name) is not str or not 0 < len(name) <= 32:
            raise ValueError("bad rule name")
        if ev not in EVENTS or ev == "security.alert":
            raise ValueError("rule on an unknown event")
        if type(th) is not int or not 1 <= th <= _MAX_THRESHOLD:
            raise ValueError("rule threshold out of range")
        if type(win) is not int or not 1 <= win <= _MAX_WINDOW_S:
            raise ValueError("rule window out of range")
        new.append([name, ev, th, win * 1000, [0] * th, 0, 0, win])
    _n = slots
    _names = [None] * slots
    _times = [0] * slots
    _seqs = [0] * slots
    _vals = [None] * (slots * _NF)
    _head = 0
    _len = 0
    _rules = new


def define(name, fields=()):
    """Declare an app event and the fields it may carry (the allow-list)."""
    if type(name) is not str or not 0 < len(name) <= 32 or "." not in name:
        raise ValueError("event names are <area>.<what>, at most 32 chars")
    if name in EVENTS and EVENTS[name] != tuple(fields):
        raise ValueError("event already defined")
    if len(fields) > _NF:
        raise ValueError("too many fields")
    if len(EVENTS) >= len(_BUILTIN) + _MAX_DEFINED and name not in EVENTS:
        raise ValueError("too many events")
    for f in fields:
        if type(f) is not str or not 0 < len(f) <= 16:
            raise ValueError("bad field name")
        low = f.lower()
        for w in _SECRET_WORDS:
            if w in low:
                raise ValueError("field name looks like a secret")
    EVENTS[name] = tuple(fields)


_BUILTIN = tuple(EVENTS)


def counter(name, n=1):
    """Add n to a counter (declared by its first use); allocation-free after."""
    _counters[name] = _counters.get(name, 0) + n


def gauge(name, value):
    """Set a gauge (declared by its first use; then allocation-free for ints,
    floats allocate on MicroPython)."""
    _gauges[name] = value


_TYPES = (int, str, bool, float)  # built once: a tuple literal in a call allocates


def _ok(v):
    global redacted
    if v is None or type(v) in _TYPES:
        return v
    redacted += 1
    return None


def record(name, a=None, b=None, c=None, d=None):
    """Queue an event with its fields in the order EVENTS declares them.

    Allocation-free for declared names and int, bool, None or existing str
    values.  An undeclared name raises ValueError."""
    spec = EVENTS.get(name)
    if spec is None:
        raise ValueError("undeclared telemetry event")
    _put(name, spec, a, b, c, d)


def _put(name, spec, a, b, c, d):
    global _head, _len, _seq, dropped, redacted
    k = len(spec)
    if k < 4 and d is not None or k < 3 and c is not None or k < 2 and b is not None or k < 1 and a is not None:
        redacted += 1
    if _len == _n:
        _head = (_head + 1) % _n
        _len -= 1
        dropped += 1
    i = (_head + _len) % _n
    _len += 1
    _seq += 1
    _names[i] = name
    _times[i] = time.ticks_ms()
    _seqs[i] = _seq
    j = i * _NF
    _vals[j] = _ok(a) if k > 0 else None
    _vals[j + 1] = _ok(b) if k > 1 else None
    _vals[j + 2] = _ok(c) if k > 2 else None
    _vals[j + 3] = _ok(d) if k > 3 else None
    if name != "security.alert":
        _check_rules(name, _times[i])


def emit(name, **fields):
    """Queue an event from keyword fields; fields outside its allow-list are
    dropped and counted in `redacted`."""
    spec = EVENTS.get(name)
    if spec is None:
        raise ValueError("undeclared telemetry event")
    _from_fields(name, spec, fields)


def _from_fields(name, spec, fields):
    global redacted
    used = 0
    a = b = c = d = None
    k = len(spec)
    if k > 0 and spec[0] in fields:
        a = fields[spec[0]]
        used += 1
    if k > 1 and spec[1] in fields:
        b = fields[spec[1]]
        used += 1
    if k > 2 and spec[2] in fields:
        c = fields[spec[2]]
        used += 1
    if k > 3 and spec[3] in fields:
        d = fields[spec[3]]
        used += 1
    if used < len(fields):
        redacted += len(fields) - used
    _put(name, spec, a, b, c, d)


def _on_event(name, fields):
    # From sbd.events: an undeclared name is kept, without its fields.
    spec = EVENTS.get(name)
    _from_fields(name, () if spec is None else spec, fields)


def _check_rules(name, now):
    global alerts
    for r in _rules:
        if r[1] != name:
            continue
        th = r[2]
        times = r[4]
        times[r[5]] = now
        r[5] = (r[5] + 1) % th
        if r[6] < th:
            r[6] += 1
        # times[r[5]] is now the oldest of the last `th` events
        if r[6] == th and time.ticks_diff(now, times[r[5]]) < r[3]:
            r[6] = 0
            alerts += 1
            record("security.alert", r[0], name, th, r[7])
            if _alert_hook is not None:
                _alert_hook(r[0])


def on_alert(fn):
    """Call fn(rule_name) when a rule fires (None to stop); from inside
    record(), so fn must be short and must not call record."""
    global _alert_hook
    _alert_hook = fn


def start(slots=None, rules=None):
    """Subscribe to sbd.events (configuring first when asked)."""
    if slots is not None or rules is not None or _n == 0:
        configure(32 if slots is None else slots, DEFAULT_RULES if rules is None else rules)
    events.subscribe(_on_event)


def stop():
    events.unsubscribe(_on_event)


def sample():
    """Queue system metrics (uptime, free heap, reset cause, drops) and the
    counters and gauges.  Allocates: call it from the main loop."""
    import gc

    try:
        from sbd import board

        cause = board.reset_cause()
    except Exception:  # noqa: BLE001 - no machine module (host tools)
        cause = "unknown"
    up = time.ticks_diff(time.ticks_ms(), _t0) // 1000
    record("sys.metrics", up, gc.mem_free(), cause, dropped)
    if _counters or _gauges:
        # dicts pass no allow-list check in _put: fill the slot directly
        record("sys.values")
        j = (_head + _len - 1) % _n * _NF
        _vals[j] = dict(_counters)
        _vals[j + 1] = dict(_gauges)


def add_sink(sink):
    """sink.send(payload_bytes) -> True when taken; False or an OSError
    keeps the event queued."""
    if sink not in _sinks:
        _sinks.append(sink)


def remove_sink(sink):
    if sink in _sinks:
        _sinks.remove(sink)


def pending():
    return _len


def _value(v):
    if type(v) is str and len(v) > _MAX_STR:
        return v[:_MAX_STR]
    if type(v) is dict:
        out = {}
        for key in v:
            if len(out) >= 16:
                break
            x = v[key]
            if type(key) is str and type(x) in (int, float, bool):
                out[key[:_MAX_STR]] = x
        return out
    return v


def encode(i):
    """The wire form of slot i: one JSON object (docs/telemetry.md)."""
    import json

    name = _names[i]
    spec = EVENTS.get(name, ())
    f = {}
    j = i * _NF
    for k in range(len(spec)):
        v = _vals[j + k]
        if v is not None:
            f[spec[k]] = _value(v)
    t = time.ticks_diff(_times[i], _t0)
    return json.dumps({"v": SCHEMA, "seq": _seqs[i], "t_ms": t, "ev": name, "f": f}).encode()


def pump(limit=8):
    """Send up to `limit` queued events to every sink; returns how many went.

    Stops at the first sink that refuses or raises OSError: the event stays
    queued (a sink that took it may see it again; `seq` tells them apart)."""
    global _head, _len, sent
    if not _sinks:
        return 0
    done = 0
    while _len and done < limit:
        seq = _seqs[_head]
        payload = encode(_head)
        for s in _sinks:
            try:
                ok = s.send(payload)
            except OSError:
                ok = False
            if not ok:
                return done
        done += 1
        if not _len or _seqs[_head] != seq:
            continue  # a sink recorded into a full ring: this one is gone already
        j = _head * _NF
        _names[_head] = None
        _vals[j] = _vals[j + 1] = _vals[j + 2] = _vals[j + 3] = None
        _head = (_head + 1) % _n
        _len -= 1
        sent += 1
    return done


class LogSink:
    """Writes one JSON line per event to a stream (default: the console)."""

    def __init__(self, stream=None):
        self.stream = stream

    def send(self, payload):
        if self.stream is None:
            print(payload.decode())
        else:
            self.stream.write(payload)
            self.stream.write(b"\n")
        return True


class CallbackSink:
    """Calls fn(payload) -> bool."""

    def __init__(self, fn):
        self.fn = fn

    def send(self, payload):
        return self.fn(payload)


configure()
