# sbd.net: the back-off (bounds, cap, jitter, one report per outage), the
# TLS helper's refusals, and the MQTT client's framing and checks against a
# scripted socket (the real broker is in tests/vboard/test_telemetry_mqtt.py).
import time

from dtest import eq, raises, true
from sbd import events, net
from sbd.net import mqtt


def test_backoff_grows_with_jitter_and_is_capped():
    b = net.Backoff(100, 1000)
    true(b.ready(), "ready before any failure")
    waits = [b.failed() for _ in range(8)]
    for i, w in enumerate(waits):
        full = min(1000, 100 << i)
        true(full // 2 <= w <= full, "wait %d within [%d, %d]" % (w, full // 2, full))
    true(not b.ready(), "not ready right after a failure")
    eq(b.attempt, 8)


def test_backoff_jitter_spreads_a_fleet():
    # 32 devices failing once each do not all pick the same wait.
    ws = set()
    for _ in range(32):
        ws.add(net.Backoff(1000, 60000).failed())
    true(len(ws) > 1, "jitter")


def test_backoff_reports_one_reconnect_per_outage():
    seen = []

    def fn(n, f):
        seen.append((n, f))

    events.subscribe(fn)
    try:
        b = net.Backoff(1, 10)
        b.succeeded()  # no outage: no report
        for _ in range(3):
            b.failed()
        b.succeeded()
        b.succeeded()
    finally:
        events.unsubscribe(fn)
    eq(seen, [("net.reconnect", {"attempts": 3})])
    time.sleep_ms(1)


def test_backoff_arguments():
    raises(ValueError, net.Backoff, 0, 10)
    raises(ValueError, net.Backoff, 10, 5)
    raises(ValueError, net.Backoff, 1.5, 10)


def test_tls_needs_a_ca():
    raises(ValueError, net.tls_context)
    raises(ValueError, net.tls_context, b"")


class Script:
    """A socket that answers with scripted bytes and records what is sent."""

    def __init__(self, answer):
        self.answer = bytearray(answer)
        self.out = bytearray()
        self.sends = 0

    def send(self, b):
        self.out += bytes(b)
        self.sends += 1
        return len(b)

    def recv_into(self, mv):
        n = min(len(mv), len(self.answer))
        mv[:n] = self.answer[:n]
        self.answer = self.answer[n:]
        return n

    def close(self):
        pass


def _client(answer):
    c = mqtt.MqttClient("h", user="DEV-1", password="pw", insecure=True)  # a scripted socket: no TLS
    c.sock = Script(answer)
    return c


def test_publish_qos1_waits_for_its_own_puback():
    # a PUBACK for another packet id, then ours
    c = _client(b"\x40\x02\x00\x09" + b"\x40\x02\x00\x01")
    c.publish(b"sbd/DEV-1/events", b"{}")
    eq(bytes(c.sock.out), b"\x32\x16\x00\x10sbd/DEV-1/events\x00\x01{}")
    eq(len(c.sock.answer), 0)
    # One write per message: a header and a payload written apart meet
    # Nagle's algorithm and the broker's delayed ACK (40 ms per event).
    eq(c.sock.sends, 1)


def test_a_broker_that_never_acks_is_refused_after_a_bounded_wait():
    c = _client(b"\x40\x02\x00\x09" * 40)  # PUBACKs for another packet only
    raises(mqtt.NetError, c.publish, b"t", b"{}")
    true(len(c.sock.answer) > 0, "stopped reading before the broker's stream ended")


def test_a_broker_that_hangs_up_is_an_oserror():
    c = _client(b"")
    raises(OSError, c.publish, b"sbd/DEV-1/events", b"{}")


def test_sizes_are_bounded():
    c = _client(b"")
    raises(ValueError, c.publish, b"t", b"x" * 5000)
    raises(ValueError, mqtt.MqttClient, "h", 1883, b"", "u" * 300, None, object())
    raises(ValueError, c.publish, b"t", b"x", 2)


def test_sink_needs_a_user_and_uses_its_topic():
    raises(ValueError, mqtt.MqttSink, mqtt.MqttClient("h"))
    eq(mqtt.MqttSink(mqtt.MqttClient("h", user="DEV-1")).topic, b"sbd/DEV-1/events")


def test_sink_refuses_quietly_while_the_network_is_down():
    # Port 9 on a host that does not resolve or refuses: send() says False,
    # never raises, and the back-off then keeps it off the network.
    c = mqtt.MqttClient("127.0.0.1", 9, user="DEV-1", password="pw", timeout_s=2, insecure=True)
    s = mqtt.MqttSink(c, net.Backoff(60000, 60000))
    eq(s.send(b"{}"), False)
    eq(s.failures, 1)
    eq(s.send(b"{}"), False)  # inside the back-off: no new attempt
    eq(s.failures, 1)


class NoTls:
    """Stands for a Tls in checks that never reach the network."""

    verify = True


def test_a_password_needs_tls():
    # Review finding 4: a broker secret must not go over plain TCP by default.
    e = raises(ValueError, mqtt.MqttClient, "h", user="DEV-1", password="secret-pw")
    true("secret-pw" not in str(e), "no echo of the password")
    for flag in (1, "yes", b"1", None):
        raises(ValueError, mqtt.MqttClient, "h", user="DEV-1", password="pw", insecure=flag)
    mqtt.MqttClient("h", 8883, user="DEV-1", password="pw", tls=NoTls())  # with TLS
    mqtt.MqttClient("h", user="DEV-1")  # no password: nothing secret to protect


def test_a_password_is_checked_again_at_connect():
    c = mqtt.MqttClient("127.0.0.1", 9, user="DEV-1", password="pw", tls=NoTls(), timeout_s=2)
    c.tls = None
    seen = []

    def fn(n, f):
        seen.append(n)

    events.subscribe(fn)
    try:
        raises(ValueError, c.connect)
    finally:
        events.unsubscribe(fn)
    eq(c.sock, None, "no connection opened")
    eq(seen, [], "refused, not warned")


def test_the_insecure_way_out_is_loud():
    seen = []

    def fn(n, f):
        seen.append((n, f))

    events.subscribe(fn)
    try:
        c = mqtt.MqttClient("127.0.0.1", 9, user="DEV-1", password="pw", timeout_s=2, insecure=True)
        eq(seen, [("net.plaintext_login", {"host": "127.0.0.1"})], "reported when built")
        for _ in range(2):
            raises(OSError, c.connect)  # nothing listens on port 9 (each connect prints a warning)
        mqtt.MqttClient("127.0.0.1", 9, user="DEV-1", insecure=True)  # no password: nothing to report
    finally:
        events.unsubscribe(fn)
    eq(len(seen), 1, "once per client, never from inside pump()")
