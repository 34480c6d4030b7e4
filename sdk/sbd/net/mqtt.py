# sbd.net.mqtt: the smallest MQTT 3.1.1 client telemetry needs, and the sink
# that puts sbd.telemetry's events on it.
#
# Why not micropython-lib's umqtt.simple: the PyPI release (1.3.4, 2017)
# imports `ussl`, which current MicroPython no longer has, and wraps without
# a context (no certificate check); the current micropython-lib version takes
# an SSLContext and passes server_hostname, so it can verify, but it checks
# the broker's replies with `assert` (gone at opt_level >= 1, in frozen and
# mip-installed code) and has no socket timeout.  docs/telemetry.md says more.
#
# Rules, in order:
#   1. every wait on the broker is bounded by `timeout_s` (a socket timeout)
#      and a PUBACK wait by _MAX_SKIP packets;
#   2. a CONNACK that is malformed or refuses the login raises NetError;
#      publish() at QoS 1 returns only after the broker's PUBACK for that
#      packet, so an event counts as sent only once the broker has it;
#   3. sizes are bounded before anything is written: topic and payload
#      within _MAX_PACKET, user and password within 256 bytes;
#   4. a password goes only over TLS: a client with a password and no tls
#      is refused (ValueError) unless built with insecure=True, the loud way
#      out for a test broker without TLS: the client emits
#      net.plaintext_login with the host when it is built (not inside
#      telemetry.pump(), where a report would push a queued event out of a
#      full ring) and prints a warning then and at every connection;
#   5. MqttSink never raises into telemetry.pump(): a failure closes the
#      connection, starts the back-off and reports "not sent"; while the
#      back-off runs, send() returns False at once without touching the net;
#      a reconnect after failures is reported (net.reconnect) with the next
#      event, when the ring has room for the report.
import socket

from micropython import const

from sbd import events
from sbd.net import Backoff, NetError

_MAX_PACKET = const(4096)
_MAX_LOGIN = const(256)
_CONNACK = const(0x20)
_PUBACK = const(0x40)
_MAX_SKIP = const(16)  # packets read while waiting for a PUBACK


def _varlen(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return out


def _b(x):
    return x.encode() if type(x) is str else x


def _str(b):
    return bytes((len(b) >> 8, len(b) & 0xFF)) + b


class MqttClient:
    """One connection to a broker; connect(), publish(), close()."""

    def __init__(
        self,
        host,
        port=1883,
        client_id=b"",
        user=None,
        password=None,
        tls=None,
        keepalive=60,
        timeout_s=5,
        insecure=False,
    ):
        if user is not None and len(user) > _MAX_LOGIN or password is not None and len(password) > _MAX_LOGIN:
            raise ValueError("user or password too long")
        if password is not None and tls is None and insecure is not True:
            raise ValueError(
                "a password needs TLS: tls=net.tls_context(cadata=CA) (insecure=True only for a test broker)"
            )
        self.host = host
        self.port = port
        self.client_id = _b(client_id) or _b(user) or b""
        self.user = _b(user)
        self.password = _b(password)
        self.tls = tls
        self.insecure = insecure is True
        if password is not None and tls is None:
            # Reported here, once per client, not at each connection: inside
            # telemetry.pump() a report would push a queued event out of a
            # full ring.  Every connection prints the warning.
            print("sbd.net.mqtt: WARNING: password to", host, "in plain text (insecure=True)")
            events.emit("net.plaintext_login", host=host)
        self.keepalive = keepalive
        self.timeout_s = timeout_s
        self.sock = None
        self._pid = 0
        self._hdr = bytearray(2)

    def _send(self, buf):
        mv = memoryview(buf)
        w = self.sock.send if hasattr(self.sock, "send") else self.sock.write
        while len(mv):
            n = w(mv)
            if not n:
                raise OSError(104)
            mv = mv[n:]

    def _recv(self, buf):
        mv = memoryview(buf)
        r = self.sock.recv_into if hasattr(self.sock, "recv_into") else self.sock.readinto
        got = 0
        while got < len(buf):
            n = r(mv[got:])
            if not n:
                raise OSError(104)  # closed by the broker (or a timeout)
            got += n

    def connect(self):
        """Open the connection and log in; raises OSError (NetError when the
        broker answered but refused)."""
        self.close()
        plain = self.password is not None and self.tls is None
        if plain and not self.insecure:
            raise ValueError("a password needs TLS")  # rule 4, again: tls may have been cleared since
        addr = socket.getaddrinfo(self.host, self.port)[0][-1]
        s = socket.socket()
        self.sock = s
        try:
            s.settimeout(self.timeout_s)
            s.connect(addr)
            if self.tls is not None:
                self.sock = self.tls.wrap(s, self.host)
            elif plain:
                print("sbd.net.mqtt: WARNING: password to", self.host, "in plain text (insecure=True)")
            flags = 0x02  # clean session
            body = bytearray(b"\x00\x04MQTT\x04\x00")
            body += bytes((self.keepalive >> 8, self.keepalive & 0xFF))
            body += _str(self.client_id)
            if self.user is not None:
                flags |= 0x80
                body += _str(self.user)
            if self.password is not None:
                flags |= 0x40
                body += _str(self.password)
            body[7] = flags
            self._send(b"\x10" + _varlen(len(body)) + body)
            ack = bytearray(4)
            self._recv(ack)
            if ack[0] != _CONNACK or ack[1] != 2:
                raise NetError("not an MQTT CONNACK")
            if ack[3] != 0:
                raise NetError("broker refused the connection (code %d)" % ack[3])
        except BaseException:
            self.close()
            raise

    def publish(self, topic, payload, qos=1):
        """Publish at QoS 0 or 1; at QoS 1 return after the matching PUBACK."""
        if qos not in (0, 1):
            raise ValueError("qos 0 or 1")
        size = 2 + len(topic) + len(payload) + (2 if qos else 0)
        if size > _MAX_PACKET:
            raise ValueError("message too large")
        if self.sock is None:
            raise OSError(107)  # not connected
        head = bytearray(b"\x30" if not qos else b"\x32") + _varlen(size) + _str(topic)
        if qos:
            self._pid = self._pid % 0xFFFF + 1
            head += bytes((self._pid >> 8, self._pid & 0xFF))
        # One write: a header and a payload sent apart meet Nagle's algorithm
        # and the broker's delayed ACK, 40 ms per event (measured, bench/).
        head += payload
        self._send(head)
        if qos:
            self._wait_puback(self._pid)

    def _wait_puback(self, pid):
        # Other packets may come first (a PUBACK for an older message), but
        # a bounded number: a broker that streams anything else forever
        # would otherwise hold the app longer than any timeout.
        h = self._hdr
        for _ in range(_MAX_SKIP):
            self._recv(h)
            if h[1] & 0x80:
                raise NetError("unexpected long packet from the broker")
            rest = bytearray(h[1])
            self._recv(rest)
            if h[0] == _PUBACK and len(rest) == 2 and (rest[0] << 8 | rest[1]) == pid:
                return
        raise NetError("no PUBACK from the broker")

    def ping(self):
        self._send(b"\xc0\x00")

    def close(self):
        s = self.sock
        self.sock = None
        if s is not None:
            try:
                s.close()
            except OSError:
                pass


def device_client(host, port=8883, tls=None, keepalive=60, timeout_s=5, insecure=False):
    """A client logging in as this device: its serial (the factory record)
    and its own broker secret from sbd.creds (sbd.net.broker made it at the
    factory; the secret is read here and kept only in the client).  tls is
    required (rule 4): net.tls_context(cadata=CA); insecure=True only for a
    test broker without TLS."""
    if tls is None and insecure is not True:
        # Refused before the secret is read.
        raise ValueError("a password needs TLS: tls=net.tls_context(cadata=CA) (insecure=True only for a test broker)")
    from sbd import creds, identity

    return MqttClient(
        host,
        port,
        user=identity.load().serial,
        password=creds.get("mqtt.broker"),
        tls=tls,
        keepalive=keepalive,
        timeout_s=timeout_s,
        insecure=insecure,
    )


class MqttSink:
    """A telemetry sink publishing to sbd/<user>/events (rule 5)."""

    def __init__(self, client, backoff=None, qos=1):
        if client.user is None:
            raise ValueError("the device's user name (its serial) is its topic")
        self.client = client
        self.topic = b"sbd/" + client.user + b"/events"
        self.backoff = backoff or Backoff()
        self.qos = qos
        self.connects = 0
        self.failures = 0
        self.last_error = ""
        self._reconnected = False

    def send(self, payload):
        c = self.client
        if self._reconnected:
            # Reported here, between two events: inside pump() the ring may
            # be full, and the report would push out a queued event.
            self._reconnected = False
            self.backoff.succeeded()
        if c.sock is None:
            if not self.backoff.ready():
                return False
            try:
                c.connect()
            except (OSError, ValueError) as e:  # ssl raises ValueError on some ports
                self._failed(e)
                return False
            self.connects += 1
            if self.backoff.attempt:
                self._reconnected = True
        try:
            c.publish(self.topic, payload, self.qos)
        except OSError as e:
            self._failed(e)
            return False
        return True

    def _failed(self, e):
        self.failures += 1
        self.last_error = str(e)[:64]
        self.client.close()
        self.backoff.failed()
