# env_sensor: a sensor with a small local configuration page, on the sbd SDK.
#
# It measures every `interval` seconds and serves one HTTP page on the local
# network (127.0.0.1 on the virtual board), both from one loop: a request is
# handled in at most _REQ_MS, then measuring goes on.
#
# Rules the page enforces, in order:
#   1. no factory record, no server: sbd.identity.require() before listening;
#      privacy.resume() finishes a wipe a power cut interrupted;
#   2. bounded requests: request line <= _LINE_MAX, headers <= _HEAD_MAX bytes
#      and _HEADERS_MAX lines (431), body <= _BODY_MAX (413) and only with a
#      canonical Content-Length (411/400), the whole request within _REQ_MS
#      and within _BUSY_MS while another connection waits (408); no folded
#      header lines, no white space before a colon (400); GET and POST only
#      (405 with Allow); HTTP/1.0 and 1.1 only (505); one request per
#      connection;
#   3. paths: the target must be one of the fixed routes, exactly (no files
#      are served, so "..", "%2e" and the like name nothing: 404);
#      the Host header, when sent, must name this board: an IP literal,
#      "localhost" or the board's own host name (421 otherwise), so a page
#      on a foreign name that DNS-rebinds to the board's address reaches
#      nothing;
#   4. login: the per-device password through sbd.auth (its back-off: 429
#      with Retry-After), from a login form carrying a token that must match
#      a cookie set with the form (login CSRF; 403 otherwise, checked before
#      the password so a foreign page cannot use up tries); a session is 16 random bytes in an HttpOnly,
#      SameSite=Strict cookie that expires SESSION_S after login (the loop
#      ends it then, cookie or not: a ticks age wraps); one session at a
#      time; cookies compared in constant time; any other cookie is no session;
#   5. every form carries the session's CSRF token and is parsed by
#      sbd.validate.form against its schema (400 names the field and the rule,
#      never the value);
#   6. the Wi-Fi passphrase goes to sbd.creds, never to the settings file or
#      a page; the broker login is the device's own secret, made at
#      provisioning (sbd.net.broker, in sbd.creds), never typed; the broker's
#      CA is a certificate file on the board whose path the settings name
#      (mqtt_ca: an absolute path, no part starting with "."); "delete my
#      data" is sbd.privacy's two-step wipe (a token shown on the confirm
#      page, used once).
#   7. one request's failure is that request's: an SDK refusal (CredsError,
#      AuthError, ...), a filesystem error or a MemoryError answers 500, any
#      other exception of a request, a measurement or a network step is
#      said by its kind, and the loop goes on;
#   8. the network side (uplink.py: telemetry to MQTT, signed updates) runs
#      while no request waits and at least every _STEP_MS under a stream of
#      requests, each step bounded by a short socket timeout; with the
#      network down the page and the measuring go on.
import gc
import json
import socket
import time

from micropython import const

_LINE_MAX = const(256)
_HEAD_MAX = const(2048)  # a browser's POST: ~20 headers, ~1.2 KiB (Chromium)
_HEADERS_MAX = const(32)
_BODY_MAX = const(512)
_REQ_MS = const(3000)
_BUSY_MS = const(1000)  # past this, a request still incomplete yields to a waiting connection (408)
_STEP_MS = const(1000)  # the network side gets a step at least this often, requests or not
# The request buffer, allocated before the SDK's imports fill the heap with
# bytecode: allocated after them, the 2.5 KiB block needed a 132 KiB heap
# instead of 120 (fragmentation; measured on the virtual Pico W).
_BUF = bytearray(_HEAD_MAX + _BODY_MAX)

from sbd import auth, creds, identity, privacy  # noqa: E402
from sbd import validate as v  # noqa: E402
from sbd.validate import form  # noqa: E402

SETTINGS = privacy.SETTINGS_DIR + "/env.json"
SESSION_S = const(900)


def _wpa(s):
    # Empty: the field left blank, the passphrase unchanged; else WPA2's 8..63.
    return "shorter than 8" if 0 < len(s) < 8 else None


def _ca_path(s):
    # Blank: no CA (then no telemetry); else a file on the board, outside the
    # SDK's hidden folders: "/", then parts not starting with "." (so no
    # "..", no /.sbd).
    return "not an absolute path without dot parts" if s and (s[0] != "/" or "/." in s or s[-1] == "/") else None


_CA = v.text(0, 64, chars="A-Za-z0-9_./-", check=_ca_path, optional=True)


_CSRF = v.text(32, 32, chars=v.HEX)
_LOGIN = v.obj({"csrf": _CSRF, "password": v.text(1, 64, allow_control=False)})
_SETTINGS = v.obj(
    {
        "csrf": _CSRF,
        "ssid": v.text(1, 32, chars=v.PRINTABLE),
        "wifi_pass": v.text(0, 63, chars=v.PRINTABLE, optional=True, check=_wpa),
        "mqtt_host": v.text(0, 64, chars=v.HOSTNAME),  # blank: no broker, no telemetry
        "mqtt_port": v.integer(1, 65535),
        "mqtt_ca": _CA,  # the broker's CA certificate (PEM or DER), a file on the board
        "interval": v.integer(1, 3600),
    }
)
_STORED = v.obj(
    {
        "ssid": v.text(1, 32, chars=v.PRINTABLE),
        "mqtt_host": v.text(0, 64, chars=v.HOSTNAME),  # blank: no broker, no telemetry
        "mqtt_port": v.integer(1, 65535),
        "mqtt_ca": _CA,
        "interval": v.integer(1, 3600),
    }
)
_CSRF_ONLY = v.obj({"csrf": _CSRF})
_DELETE = v.obj({"csrf": _CSRF, "confirm": v.text(16, 16, chars=v.HEX)})

_REASONS = {
    200: "OK",
    303: "See Other",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    421: "Misdirected Request",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    505: "HTTP Version Not Supported",
}


class HttpError(Exception):
    def __init__(self, status, extra=""):
        super().__init__(status)
        self.status = status
        self.extra = extra  # header lines for the answer (405: Allow)


_ONLY_GET = "Allow: GET\r\n"
_ONLY_POST = "Allow: POST\r\n"


class App:
    def __init__(self, names=()):
        # Host names besides IP literals and "localhost" that name this board.
        self.names = tuple(n.lower().encode() for n in names)
        self.sid = None  # hex str of the one session, or None
        self.csrf = None
        self.sid_at = 0  # ticks_ms at login
        self.count = 0  # measurements taken
        self.last = None
        self.served = 0
        self.answered = False  # a request got a non-5xx answer (the trial's first half)
        self.kept = False  # confirm() ran this boot
        self.trial = False  # this boot runs a release on trial (run() finds out)
        self.peak = 0  # the most heap in use, seen after a request (before collecting)
        self.buf = _BUF
        self.settings = load_settings()
        self.uplink = None  # uplink.Uplink, set by main()
        self.waiting = None  # run() sets it: True while another connection waits

    # -- measuring -------------------------------------------------------------

    def measure(self):
        self.last = read_sensor()
        self.count += 1
        if self.uplink is not None:
            self.uplink.reading(self.last)

    # -- sessions --------------------------------------------------------------

    def session_live(self):
        # Ends the session once SESSION_S have passed since login.  A ticks
        # difference wraps (every 2**30 ms on a Pico W: an age read 12.4 days
        # on would look fresh again), so the loop calls this at every turn and
        # the session is ended within a turn of its expiry, whether or not a
        # request ever brings its cookie back.
        if self.sid is not None:
            age = time.ticks_diff(time.ticks_ms(), self.sid_at)
            if age < 0 or age >= SESSION_S * 1000:
                self.sid = None
                self.csrf = None
        return self.sid is not None

    def session_ok(self, cookie):
        from sbd.crypto import ct_equal

        if cookie is None or len(cookie) != 32 or not self.session_live():
            return False
        return ct_equal(cookie.encode(), self.sid.encode())

    def new_session(self):
        import binascii

        from sbd.crypto import random_bytes

        self.sid = binascii.hexlify(random_bytes(16)).decode()
        self.csrf = binascii.hexlify(random_bytes(16)).decode()
        self.sid_at = time.ticks_ms()
        return self.sid

    def form(self, body, schema):
        from sbd.crypto import ct_equal

        d = form.parse_form(body, schema, max_bytes=_BODY_MAX)
        if self.csrf is None or not ct_equal(d["csrf"].encode(), self.csrf.encode()):
            raise HttpError(403)
        return d

    # -- routes ----------------------------------------------------------------

    def route(self, method, path, cookies, body):
        """(status, extra headers, html) for one parsed request."""
        authed = self.session_ok(_cookie(cookies, b"sid="))
        if path == "/login":
            if method != "POST":
                raise HttpError(405, _ONLY_POST)
            return self.login(body, _cookie(cookies, b"lt="))
        if path not in ("/", "/settings", "/delete", "/logout", "/readings"):
            raise HttpError(404)
        if not authed:
            if path == "/" and method == "GET":
                return self.login_page(200, "")
            return self.login_page(401, "<p>Please log in.</p>")
        if method == "GET":
            if path == "/":
                return 200, "", self.settings_page("")
            if path == "/readings":
                return 200, "", "%d %s" % (self.count, self.last)
            if path == "/delete":
                return 200, "", self.delete_page()
            raise HttpError(405, _ONLY_POST)  # /settings, /logout
        if path == "/settings":
            return self.save_settings(body)
        if path == "/delete":
            d = self.form(body, _DELETE)
            try:
                privacy.wipe_user_data(confirm=d["confirm"])
            except privacy.NotConfirmed:
                return 400, "", _page("Not deleted", "<p>The confirmation expired or was wrong.</p>")
            self.settings = load_settings()
            if self.uplink is not None:
                self.uplink.configure(self.settings)
            self.sid = None
            return 200, _END_COOKIE, _page("Deleted", "<p>Your data is deleted.</p>")
        if path == "/logout":
            self.form(body, _CSRF_ONLY)
            self.sid = None
            return 303, "Location: /\r\n" + _END_COOKIE, ""
        raise HttpError(405, _ONLY_GET)  # /, /readings

    def login_page(self, status, msg):
        # A fresh login token, in a cookie and in the form (double submit):
        # a foreign page can make a browser post the form, but cannot read or
        # set this origin's cookie (and SameSite=Strict keeps it off
        # cross-site requests).
        import binascii

        from sbd.crypto import random_bytes

        t = binascii.hexlify(random_bytes(16)).decode()
        extra = "Set-Cookie: lt=%s; HttpOnly; SameSite=Strict; Path=/login; Max-Age=%d\r\n" % (t, SESSION_S)
        return (
            status,
            extra,
            _page(
                "Log in",
                msg + "<form method=post action=/login><input type=hidden name=csrf value=%s>"
                "<label>Password <input name=password type=password></label>"
                "<button>Log in</button></form>" % t,
            ),
        )

    def login(self, body, token):
        from sbd.crypto import ct_equal

        try:
            d = form.parse_form(body, _LOGIN, max_bytes=_BODY_MAX)
        except v.ValidationError as e:
            return self.login_page(400, "<p>%s</p>" % _esc(str(e)))
        if token is None or not ct_equal(token.encode(), d["csrf"].encode()):
            raise HttpError(403)  # before the password: no try is used up
        try:
            ok = auth.check(d["password"])
        except auth.Locked as e:
            s = (e.wait_ms + 999) // 1000
            return 429, "Retry-After: %d\r\n" % s, _page("Locked", "<p>Too many wrong passwords: wait %d s.</p>" % s)
        if not ok:
            return self.login_page(401, "<p>Wrong password.</p>")
        sid = self.new_session()
        return (
            303,
            "Location: /\r\nSet-Cookie: sid=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%d\r\n" % (sid, SESSION_S),
            "",
        )

    def save_settings(self, body):
        try:
            d = self.form(body, _SETTINGS)
        except v.ValidationError as e:
            return 400, "", self.settings_page(_esc(str(e)))
        secret = d.pop("wifi_pass", "")  # blank: unchanged
        del d["csrf"]
        ssid, key = wifi_credentials(self.settings)
        if secret or d["ssid"] != ssid:
            save_wifi(d["ssid"], secret or key or "")
        save_settings(d)
        self.settings = d
        if self.uplink is not None:
            self.uplink.configure(d, force=True)  # the CA file may have changed under the same path
        return 303, "Location: /\r\n", ""

    def settings_page(self, error):
        s = self.settings
        h = "<p class=err>%s</p>" % error if error else ""
        h += "<p>Measurements: %d, last %s</p><form method=post action=/settings>" % (self.count, self.last)
        for k, kind in (("ssid", "text"), ("mqtt_host", "text"), ("mqtt_port", "number"), ("mqtt_ca", "text")):
            h += '<label>%s <input name=%s type=%s value="%s"></label>' % (k, k, kind, _esc(str(s.get(k, ""))))
        h += '<label>interval <input name=interval type=number value="%s"></label>' % s.get("interval", "")
        h += "<label>wifi_pass <input name=wifi_pass type=password placeholder=unchanged></label>"
        h += self.csrf_field() + "<button>Save</button></form>"
        h += "<p><a href=/delete>Delete my data</a></p><form method=post action=/logout>%s" % self.csrf_field()
        return _page("Settings", h + "<button>Log out</button></form>")

    def delete_page(self):
        t = privacy.wipe_token()
        return _page(
            "Delete my data",
            "<p>This deletes your settings, the Wi-Fi password and every stored credential, and returns to the"
            " factory password.</p>"
            "<form method=post action=/delete>%s<input type=hidden name=confirm value=%s>"
            "<button>Delete my data</button></form>" % (self.csrf_field(), t),
        )

    def csrf_field(self):
        return "<input type=hidden name=csrf value=%s>" % self.csrf

    # -- HTTP ------------------------------------------------------------------

    def handle(self, conn):
        """Read one request from conn, answer it, close it."""
        status, extra, html = 500, "", ""
        req = None
        try:
            req = self.read_request(conn)
        except HttpError as e:
            status, extra = e.status, e.extra
        except MemoryError:
            gc.collect()
        except OSError:
            return  # the peer went away: nothing to answer
        if req is not None:
            try:
                status, extra, html = self.route(*req)
            except HttpError as e:
                status, extra = e.status, e.extra
            except v.ValidationError:
                status = 400
            except (
                creds.CredsError,
                auth.AuthError,
                privacy.PrivacyError,
                identity.IdentityError,
                MemoryError,
                OSError,
                ValueError,  # UnicodeError: a stored value that is not text
            ):
                # The store refused (a tampered creds file, say; the SDK
                # emitted its event), the filesystem failed (a full flash) or
                # the heap ran short: 500 for this request, and the page and
                # the measuring go on.
                status = 500
                gc.collect()
        try:
            _send(conn, status, extra, html)
        except OSError:
            pass
        self.served += 1
        if status < 500:
            self.answered = True

    def read_request(self, conn):
        buf = self.buf
        mv = memoryview(buf)
        n = 0
        end = -1
        t0 = time.ticks_ms()
        deadline = time.ticks_add(t0, _REQ_MS)
        busy = time.ticks_add(t0, _BUSY_MS)
        conn.setblocking(False)
        while end < 0:
            if n >= _HEAD_MAX:
                raise HttpError(431)
            k = _recv(conn, mv[n:_HEAD_MAX], deadline, busy, self.waiting)
            if k == 0:
                raise HttpError(400)
            n += k
            end = buf.find(b"\r\n\r\n", 0, n)
            line_end = buf.find(b"\r\n", 0, n)
            if (line_end < 0 and n > _LINE_MAX) or line_end > _LINE_MAX:
                raise HttpError(431)
        lines = bytes(mv[:end]).split(b"\r\n")
        if len(lines) > _HEADERS_MAX + 1:
            raise HttpError(431)
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not parts[1].startswith(b"/"):
            raise HttpError(400)
        if parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            raise HttpError(505)
        method = parts[0]
        if method not in (b"GET", b"POST"):
            raise HttpError(405, "Allow: GET, POST\r\n")
        length = None
        cookie = None
        host = None
        for line in lines[1:]:
            i = line.find(b":")
            if i <= 0 or b" " in line[:i] or b"\t" in line[:i]:
                # No colon, a folded line (leading white space) or white
                # space before the colon: RFC 9112 says 400, and a lenient
                # reading ("Host : x") would slip past the checks below.
                raise HttpError(400)
            name = line[:i].lower()
            val = line[i + 1 :].strip()
            if name == b"content-length":
                if length is not None or not val or not val.isdigit() or len(val) > 6:
                    raise HttpError(400)
                length = int(val)
            elif name == b"transfer-encoding":
                raise HttpError(400)  # only Content-Length bodies
            elif name == b"cookie":
                cookie = val
            elif name == b"host":
                if host is not None:
                    raise HttpError(400)
                host = val
        if host is not None and not self.host_ok(host):
            raise HttpError(421)  # a name that is not this board's: DNS rebinding
        body = b""
        if method == b"POST":
            if length is None:
                raise HttpError(411)
            if length > _BODY_MAX:
                raise HttpError(413)
            start = end + 4
            have = n - start
            if have > length:
                raise HttpError(400)  # bytes after the body: no pipelining here
            bm = mv[start : start + length]
            while have < length:
                k = _recv(conn, bm[have:], deadline, busy, self.waiting)
                if k == 0:
                    raise HttpError(400)
                have += k
            body = bytes(bm)
        try:
            path = parts[1].decode()
        except UnicodeError:
            raise HttpError(400) from None
        return method.decode(), path, cookie, body

    def host_ok(self, host):
        # An IP literal (a page's origin is then that address itself),
        # "localhost", or one of this board's names; an optional :port.
        if host.startswith(b"["):
            return host.find(b"]") > 0  # an IPv6 literal
        i = host.find(b":")
        if i >= 0:
            if not host[i + 1 :].isdigit():
                return False
            host = host[:i]
        host = host.lower()
        if host == b"localhost" or host in self.names:
            return True
        parts = host.split(b".")
        return len(parts) == 4 and all(p.isdigit() and len(p) <= 3 for p in parts)

    # -- the loop --------------------------------------------------------------

    def confirm(self):
        """Keep a new release on trial (sbd.boot.confirm: it stays, and the
        security floor rises) only once it has answered a request and its
        update path has worked (one verified refresh from the repository in
        /update.json, uplink.Uplink.updates_ok).  A release that cannot
        reach or verify its repository is never confirmed: sbd.boot goes
        back to the previous release after its trial boots, so a release
        cannot lock the board out of the fix that follows it."""
        if self.kept or not self.trial or not self.answered:
            return
        if self.uplink is not None and not self.uplink.updates_ok:
            return
        self.kept = True
        from sbd import boot

        if boot.confirm():
            print("env_sensor: this release works (a request answered, an update check passed): confirmed")

    def _guard(self, fn, *args):
        # One request's or one network step's failure, whatever it is, is
        # that step's: said on the console (its kind, never its text: it
        # could quote a value), and the page and the measuring go on.
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - the loop must outlive any one step
            print("env_sensor: %s failed: %s" % (getattr(fn, "__name__", "step"), type(e).__name__))
            gc.collect()

    def run(self, port=80, host="0.0.0.0", stop=None):
        """Serve and measure until stop() (if given) returns True."""
        import select

        addr = socket.getaddrinfo(host, port)[0][-1]
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(addr)
        srv.listen(2)
        print("env_sensor: serving on port", port)
        self.trial = _on_trial()
        if self.uplink is not None:
            self.uplink.trial = self.trial  # a failed update check is tried again soon
        poller = select.poll()
        poller.register(srv, select.POLLIN)
        self.waiting = lambda: bool(poller.poll(0))
        every = self.settings.get("interval", 5) * 1000
        due = time.ticks_ms()
        stepped = due
        gc.collect()
        start = gc.mem_alloc()
        try:
            while stop is None or not stop():
                self.session_live()  # ends an expired session (see there)
                wait = time.ticks_diff(due, time.ticks_ms())
                if wait <= 0:
                    self._guard(self.measure)
                    due = time.ticks_add(due, every)
                    continue
                # The network side steps when no request waits, and at least
                # every _STEP_MS under a stream of requests: a flood must not
                # hold back telemetry (the security events it causes would
                # wait, then be overwritten in the queue) or the update check.
                if poller.poll(min(wait, 100)) and time.ticks_diff(time.ticks_ms(), stepped) < _STEP_MS:
                    conn, _ = srv.accept()
                    try:
                        self._guard(self.handle, conn)
                    finally:
                        conn.close()
                    self.peak = max(self.peak, gc.mem_alloc())
                    gc.collect()
                    self.confirm()
                else:
                    stepped = time.ticks_ms()
                    if self.uplink is not None:
                        self._guard(self.uplink.step)
                        self.peak = max(self.peak, gc.mem_alloc())
                        self.confirm()
                every = self.settings.get("interval", 5) * 1000
        finally:
            self.waiting = None
            srv.close()
        print("env_sensor: stopped; measured %d, served %d" % (self.count, self.served))
        print(
            "env_sensor: heap in use: %d at start, %d at most, of %d"
            % (start, self.peak, gc.mem_alloc() + gc.mem_free())
        )


def _on_trial():
    # This boot runs a release on trial: this very code came from the slot
    # the pointer names (not the factory copy in /lib, which runs when
    # nothing is installed or in safe mode), or an ESP32 firmware image is
    # on trial (boot.confirm() checks it is the one running).  Read at the
    # start: a release this boot installs is on trial from the next one.
    from sbd import boot

    p = boot.read_pointer()
    if p is not None and not p["confirmed"] and __file__.startswith(boot.slot_dir(p["slot"]) + "/"):
        return True
    fw = boot.read_firmware()
    return fw is not None and fw["trial"] != 0


_END_COOKIE = "Set-Cookie: sid=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0\r\n"


def _recv(conn, mv, deadline, busy, waiting):
    # Wait (poll) for data until the deadline, then read what is there.
    # Past `busy`, a request that is still incomplete while another
    # connection waits (waiting() is True) ends with 408: one request is
    # served at a time, so a client dripping bytes would otherwise hold
    # every other one back for the whole _REQ_MS.  A browser sends its
    # request at once; only a stalled or dripping client is cut short.
    import select

    p = select.poll()
    p.register(conn, select.POLLIN)
    while True:
        now = time.ticks_ms()
        left = time.ticks_diff(deadline, now)
        if left <= 0:
            raise HttpError(408)
        grace = time.ticks_diff(busy, now)
        if grace > 0:
            left = min(left, grace)
        elif waiting is not None and waiting():
            raise HttpError(408)
        else:
            left = min(left, 100)  # look at the waiting ones again soon
        if p.poll(left):
            return conn.readinto(mv) or 0


def _cookie(val, name):
    # The value of the cookie `name` (b"sid=") in a Cookie header, or None.
    if val is None:
        return None
    for part in val.split(b";"):
        part = part.strip()
        if part.startswith(name):
            try:
                return part[len(name) :].decode()
            except UnicodeError:
                return None
    return None


def _esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _page(title, body):
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>%s</title></head>"
        "<body><h1>%s</h1>%s</body></html>" % (title, title, body)
    )


def _send(conn, status, extra, html):
    data = html.encode()
    conn.setblocking(True)
    conn.write(
        (
            "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n"
            "Connection: close\r\nCache-Control: no-store\r\nX-Frame-Options: DENY\r\n"
            "Content-Security-Policy: default-src 'none'; form-action 'self'\r\n%s\r\n"
        )
        % (status, _REASONS.get(status, "Error"), len(data), extra)
    )
    if data:
        conn.write(data)


def read_sensor():
    """A temperature in degrees C: the RP2040's internal sensor on a Pico, a
    simulated value where there is none (the virtual board)."""
    try:
        import machine

        raw = machine.ADC(4).read_u16() * 3.3 / 65535
        return round(27 - (raw - 0.706) / 0.001721, 1)
    except (AttributeError, ValueError, OSError, TypeError):
        return 20 + (time.ticks_ms() // 1000) % 5


def load_settings():
    from sbd._fs import read_bounded

    try:
        data = read_bounded(SETTINGS, 512)
        if data and len(data) <= 512:
            return v.validate(json.loads(data), _STORED, "settings")
    except (OSError, ValueError):  # ValidationError too: a damaged file is no settings
        pass
    return {}


def save_settings(d):
    from sbd import _fs

    _fs.makedirs(privacy.SETTINGS_DIR)
    _fs.write_atomic(SETTINGS, json.dumps(d).encode())


# The network name and passphrase the page saved, as one credential (one
# atomic write of the store, so a power cut leaves the old pair or the new
# one, never a new passphrase with the old name): "<ssid>\n<passphrase>".
# An entry "wifi_pass" (`sbd creds set wifi_pass`: the factory's or a USB
# user's passphrase for the settings' ssid) is newer than the pair whenever
# it is there, since the page deletes it after writing the pair.
_WIFI = "wifi"
_WIFI_ENTRY_OLD = "wifi_pass"


def wifi_credentials(settings):
    """(ssid, passphrase or None for an open network) the board joins."""
    try:
        return settings.get("ssid"), creds.get(_WIFI_ENTRY_OLD).decode()
    except creds.NotFound:
        pass
    try:
        ssid, _, key = creds.get(_WIFI).decode().partition("\n")
    except creds.NotFound:
        return settings.get("ssid"), None
    return ssid, key or None


def save_wifi(ssid, key):
    # The pair first (the commit point), then the older entry goes; the
    # settings file (the page's copy of the name) is written after both.
    # A cut before the pair's write leaves the old state whole, one after it
    # the new pair (wifi_credentials reads it; join_wifi puts its name in
    # the settings the page shows).
    creds.set(_WIFI, ssid + "\n" + key)
    try:
        creds.delete(_WIFI_ENTRY_OLD)
    except creds.NotFound:
        pass


def join_wifi(settings):
    """Start joining the configured network (boards with a radio); the loop
    does not wait for it: measuring goes on, the page answers once joined.
    The virtual board has no radio (no `network` module): it serves on
    127.0.0.1."""
    try:
        import network
    except ImportError:
        return None
    try:
        ssid, key = wifi_credentials(settings)
    except (creds.CredsError, ValueError):  # ValueError: a stored passphrase that is not text
        print("env_sensor: wifi: the credential store refused (see its event); not joining")
        return None
    if not ssid:
        return None
    if ssid != settings.get("ssid"):
        settings["ssid"] = ssid  # a save cut after the pair's write: the page shows what is joined
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if key is None:
        wlan.connect(ssid)
    else:
        wlan.connect(ssid, key)
    return wlan


# The SDK modules only the page uses.  An update check needs more heap than a
# Pico W has left while they (and the crypto they loaded) are in it, so the
# check runs with them unloaded (uplink.Uplink calls these two around it);
# the next request imports them again.  Their state is on flash: auth's
# failure count survives, its back-off wait restarts in full, as at a boot.
_PAGE_SDK = ("auth", "creds", "identity", "privacy")


def drop_page_sdk():
    import sys

    import sbd

    g = globals()
    for name in _PAGE_SDK + ("form",):
        g[name] = None
    for m in list(sys.modules):
        if m.startswith(("sbd.auth", "sbd.creds", "sbd.privacy", "sbd.identity", "sbd.crypto")) or m in (
            "sbd.validate.form",
            "sbd.validate._utf8",
        ):
            del sys.modules[m]
    for pkg, name in [(sbd, n) for n in _PAGE_SDK + ("crypto",)] + [(v, "form"), (v, "_utf8")]:
        try:
            delattr(pkg, name)
        except (AttributeError, KeyError):  # not loaded (MicroPython: KeyError)
            pass
    gc.collect()


def load_page_sdk():
    global auth, creds, identity, privacy, form
    from sbd import auth, creds, identity, privacy  # noqa: F811
    from sbd.validate import form  # noqa: F811


def main(port=80, host="0.0.0.0", stop=None, names=()):
    """Serve and measure.  names: host names that reach this board (its
    mDNS name, say) besides IP literals and "localhost"."""
    me = identity.require()  # rule 1: no factory record, no network service
    privacy.resume()
    serial, pin = me.serial, me.trust_root
    del me  # it would keep sbd.identity's code alive through an update check
    print("env_sensor:", serial)
    try:
        import network

        names = tuple(names) + (network.hostname(), network.hostname() + ".local")
    except (ImportError, AttributeError):
        pass  # no radio (the virtual board): IP literals and localhost
    app = App(names)
    from uplink import Uplink

    app.uplink = Uplink(serial, pin, (drop_page_sdk, load_page_sdk))
    app.uplink.configure(app.settings)
    join_wifi(app.settings)
    app.run(port, host, stop)
