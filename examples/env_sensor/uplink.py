# env_sensor's network side: telemetry to an MQTT broker and signed updates.
# Both are optional (no broker configured, no update repository: nothing is
# loaded), both run from the app's loop between requests, and both keep
# the app going when the network is down:
#   - telemetry: sbd.telemetry's ring is the offline queue; the MQTT sink
#     (sbd.net.mqtt) answers "not sent" at once while the broker is away and
#     retries after a back-off; a connect waits at most _NET_S;
#   - updates: every `every_s` seconds (in /update.json), the TUF refresh
#     and, when a newer release is signed, its install into the app slot that
#     is not running (sbd.ota); offline or refused, the app says why and goes
#     on.  The OTA code is unloaded after each check, so its bytecode leaves
#     the heap until the next one.
# The broker login is the device's own: user name its serial (its topic:
# sbd/<serial>/events), password the secret sbd.net.broker drew on the board
# at provisioning (`sbd provision --broker-creds DIR`; in sbd.creds as
# "mqtt.broker"), read by sbd.net.mqtt.device_client.  Only over TLS, the
# broker checked against the CA certificate the settings name (mqtt_ca, a
# PEM or DER file on the board) and its host name: no CA, a CA file that is
# not a certificate, or no secret on the board turns telemetry off (said on
# the console), and the page and the measuring go on.  With no broker in the
# settings sbd.telemetry is not even loaded (nowhere to send events).
import gc
import json
import sys
import time

from micropython import const

_NET_S = const(2)  # the longest a connect or a read may hold the page up
_RETRY_MAX_S = const(300)  # on a trial boot, a failed check waits at most this long
_CONFIG = "/update.json"
_ROOT = "/update_root.json"
_CA_MAX = const(4096)  # a CA certificate file, at most


class Uplink:
    def __init__(self, serial, trust_root=None, around=None):
        self.serial = serial
        self.trust_root = trust_root
        self.around = around  # (unload, load): the app's modules out of the heap during a check
        self.sink = None
        self.tele = None  # sbd.telemetry, once a broker is configured
        self.mqtt = None  # (host, port, CA path) the sink publishes to
        self.told = 0  # sink failures already reported on the console
        self.pending = None  # (settings, force) for the next step()
        self.applied = {}  # the settings the sink was last built for
        self.cfg = _update_config()
        # The update path has worked once this boot (a verified refresh), or
        # there is none (no /update.json: updates come by `sbd ota push`);
        # env_sensor confirms a release on trial only then.
        self.updates_ok = self.cfg is None and not _exists(_CONFIG)
        self.due = time.ticks_add(time.ticks_ms(), 1000)  # the first check soon after start
        self.last = "not checked yet"
        # This boot runs a release on trial (the app sets it): a failed check
        # is then tried again after retry_s, doubling up to _RETRY_MAX_S
        # (never later than every_s), since the release must pass a check
        # within its few trial boots.
        self.trial = False
        self.retry = 0
        self.short = False  # the sink's last build ran out of heap (said once)
        self.short_at = 0  # then it is tried again from this tick on (5 s later)

    def configure(self, settings, force=False):
        """(Re)point the MQTT sink at the settings' broker (force: even when
        host, port and CA path are the same); no broker: no sink.  Done at
        the next step(), outside the request that changed the settings: the
        TLS context's few KiB then come from a collected heap, not one still
        holding the request (on a Pico W's heap a settings POST that built it
        ran out of memory)."""
        self.pending = (settings, force or self.pending is not None and self.pending[1])

    def _apply(self, settings, force):
        self.applied = settings
        want = None
        if settings.get("mqtt_host"):
            want = (settings["mqtt_host"], settings["mqtt_port"], settings.get("mqtt_ca", ""))
        if want == self.mqtt and not force:
            return
        if self.sink is not None:
            self.tele.remove_sink(self.sink)
            self.sink.client.close()
            self.sink = None
        self.mqtt = want
        if want is None:
            return
        from sbd import creds, identity
        from sbd.net import Backoff, mqtt

        if self.tele is None:
            from sbd import telemetry

            telemetry.start()  # from now on the SDK's events are queued
            telemetry.define("env.reading", ("celsius",))
            self.tele = telemetry
        gc.collect()
        try:
            c = mqtt.device_client(want[0], want[1], tls=_tls(want[2]), timeout_s=_NET_S)
        except creds.NotFound:
            why = "no broker secret on this board (provision it with --broker-creds)"
        except (OSError, ValueError, creds.CredsError, identity.IdentityError) as e:
            why = str(e)[:80]  # the CA file, or the store refused; never a secret in it
        else:
            gc.collect()
            self.sink = mqtt.MqttSink(c, Backoff(1000, 60000))
            self.told = 0
            self.tele.add_sink(self.sink)
            return
        # Telemetry stays off; the page and the measurements go on.
        print("env_sensor: telemetry off:", why)
        self.mqtt = None

    def reading(self, value):
        if self.sink is not None:
            self.tele.record("env.reading", value)

    def step(self):
        """Settings changed since: the sink for them; a few queued events to
        the broker; the update check when due."""
        if self.pending is not None and (not self.short or time.ticks_diff(time.ticks_ms(), self.short_at) >= 0):
            settings, force = self.pending
            self.pending = None
            try:
                self._apply(settings, force)
            except MemoryError:
                # The heap short for the TLS context (right after an update
                # check, fragmented): tried again at the next step, said once.
                # Telemetry carries the security events: a passing shortage
                # must not turn it off for good.
                self.mqtt = None
                self.pending = (settings, force)
                self.short_at = time.ticks_add(time.ticks_ms(), 5000)
                gc.collect()
                if not self.short:
                    print("env_sensor: telemetry: not now (out of memory); trying again")
                self.short = True
            else:
                self.short = False
        if self.sink is not None:
            try:
                self.tele.pump(4)
            except MemoryError:
                # A TLS handshake that found the heap short: the events stay
                # queued, the next step tries again; the page goes on.
                self.sink.client.close()
                self.sink.backoff.failed()
                gc.collect()
            if self.sink.failures > self.told and self.sink.backoff.attempt == 1:
                # The first failure of an outage, once (a wrong CA, a broker
                # away): events stay queued, the sink retries with back-off.
                print("env_sensor: telemetry: broker not reached (%s); retrying" % self.sink.last_error)
            self.told = self.sink.failures
        if self.cfg is not None and time.ticks_diff(self.due, time.ticks_ms()) <= 0:
            self.check()
            wait = self.cfg["every_s"]
            if self.trial and not self.updates_ok:
                self.retry = min(self.retry * 2 if self.retry else self.cfg["retry_s"], _RETRY_MAX_S)
                if self.retry < wait:
                    wait = self.retry
                    print("env_sensor: update: trying again in %d s (a release on trial must pass its check)" % wait)
            self.due = time.ticks_add(time.ticks_ms(), wait * 1000)

    def check(self):
        """Fetch, verify and install a newer signed release (on trial from
        the next boot).  Never raises for the network or a refusal."""
        if self.around is not None:
            self.around[0]()
        if self.sink is not None:
            # The MQTT connection, its TLS context and sbd.net leave the heap
            # too (with them in, the check ran out of it on a Pico W's);
            # the next step() builds them again and the queued events go out.
            self.tele.remove_sink(self.sink)
            self.sink.client.close()
            self.sink = None
            self.mqtt = None
            self.pending = (self.applied, True)
        _unload("sbd.net")
        gc.collect()
        try:
            ok, self.last = _check(self.cfg, self.trust_root)
            if ok:
                self.updates_ok = True
        except MemoryError:
            self.last = "not now (out of memory)"
        finally:
            _unload("sbd.ota")
            if self.around is not None:
                self.around[1]()
        print("env_sensor: update:", self.last)


def _tls(path):
    # sbd.net's verifying TLS with the CA in `path` (PEM or DER) as the only
    # trust anchor; ValueError when there is none to use.
    if not path:
        raise ValueError("no CA for the broker: set mqtt_ca (a CA certificate file on the board)")
    from sbd import net

    try:
        ca = _read(path, _CA_MAX)
    except OSError:
        raise ValueError("the broker's CA file (mqtt_ca) cannot be read") from None
    gc.collect()
    try:
        if ca.startswith(b"-----BEGIN CERTIFICATE-----"):
            from binascii import a2b_base64

            end = ca.find(b"-----END CERTIFICATE-----")
            ca = a2b_base64(ca[27:end] if end > 0 else b"!")  # PEM to DER: every TLS stack here takes DER
        return net.tls_context(cadata=ca)
    except (OSError, ValueError, TypeError):
        raise ValueError("the broker's CA file (mqtt_ca) is not a certificate") from None


def _update_config():
    try:
        cfg = json.loads(_read(_CONFIG, 512))
        _read(_ROOT, 16384)  # there, and not too large; read at each check
        host, port, base = _url(cfg["url"])
        cfg["every_s"] = int(cfg.get("every_s", 21600))
        cfg["retry_s"] = int(cfg.get("retry_s", 10))
        if not (cfg["product"] and cfg["board"] and cfg["every_s"] > 0 and cfg["retry_s"] > 0):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no repository configured: no update checks
    cfg["where"] = (host, port, base)
    return cfg


def _exists(path):
    import os

    try:
        os.stat(path)
    except OSError:
        return False
    return True


def _read(path, limit):
    # The whole file, at most limit bytes (read(n) would allocate n first).
    with open(path, "rb") as f:
        n = f.seek(0, 2)
        if n > limit:
            raise ValueError(path + ": too large")
        f.seek(0)
        return f.read(n)


def _url(url):
    # "http://host:port/base/" -> (host, port, base)
    if not url.startswith("http://"):
        raise ValueError("update url: only http:// is supported")
    rest = url[7:]
    i = rest.find("/")
    hostport, base = (rest, "/") if i < 0 else (rest[:i], rest[i:])
    host, _, port = hostport.partition(":")
    return host, int(port or "80"), base if base.endswith("/") else base + "/"


def _check(cfg, pin):
    # (ok, what happened): ok once the repository's metadata verified.
    # Only what the refresh needs is loaded before it: with sbd.ota.release
    # and slots in the heap too, Ed25519 and SHA-512 (which the refresh loads
    # and drops again) did not fit a Pico W's.
    from sbd import boot, ota  # sbd.boot: loaded since the boot stage ran
    from sbd.ota import client
    from sbd.ota.http import HttpFetcher

    host, port, base = cfg["where"]
    product, board = cfg["product"], cfg["board"]
    ok = False
    try:
        root = _read(_ROOT, 16384)
        # Expiry is judged by sbd.trustedtime (now=None), never the board's
        # clock: nothing sets it on a Pico W, and NTP is not authenticated.
        t = client.refresh(HttpFetcher(host, port, base + "metadata/", _NET_S), None, root, pin)
        del root
        from sbd.ota import release

        n = release.newest(t, product, board)
        ok = True  # the update path works: verified metadata from the repository
        cur, _ = boot.installed()
        if n <= cur:
            return ok, "up to date (release %d)" % cur
        rel = release.release(t, product, board, n)
        from sbd.ota import slots

        slot = slots.install(t, rel, HttpFetcher(host, port, base + "targets/", _NET_S))
    except ota.OtaError as e:
        return ok, "REFUSED (%s: %s); keeps running the release it has" % (e.reason, e)
    except (OSError, ValueError, boot.SlotError) as e:
        return ok, "not now (%s)" % e  # a full flash, a removed root file, a release on trial
    return ok, "release %d (%s) installed in slot %s, on trial from the next boot" % (n, rel.version, slot)


def _unload(pkg):
    # The package `pkg` ("sbd.ota", "sbd.net") and its modules leave the heap
    # until they are imported again.
    import sbd

    # Every module by prefix, not by a list: a list went stale when the SDK
    # split the OTA download code into its own module, which then stayed
    # loaded and ran the next check out of memory.
    for m in [m for m in sys.modules if m == pkg or m.startswith(pkg + ".")]:
        del sys.modules[m]
    try:
        delattr(sbd, pkg[4:])
    except (AttributeError, KeyError, TypeError):  # not loaded (MicroPython: KeyError)
        pass
    gc.collect()
