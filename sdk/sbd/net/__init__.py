# sbd.net: TLS that verifies by default, and reconnecting with back-off.
#
# Rules, in order:
#   1. tls_context() verifies the server's certificate chain against the CA
#      the app gives and its name against the host it connects to; with no
#      CA it refuses to build a context (fail closed);
#   2. turning verification off takes verify=False, prints a warning and
#      emits net.tls_unverified with the host at every connection;
#   3. Backoff waits base * 2**(attempt-1), capped at max_ms, with "equal
#      jitter" (half fixed, half random) so a fleet that lost its broker does
#      not come back all at once; ready() never sleeps, the caller polls it;
#      the first success after failures emits net.reconnect with the count.
import time

from micropython import const

from sbd import events

_MAX_SHIFT = const(16)


class NetError(OSError):
    """A connection failed in a way a retry will not fix (refused login...)."""


class Tls:
    """A client TLS context and the host names it checks.  Build with tls_context()."""

    def __init__(self, ctx, verify):
        self.ctx = ctx
        self.verify = verify

    def wrap(self, sock, host):
        if not self.verify:
            print("sbd.net: WARNING: TLS to", host, "without certificate checks")
            events.emit("net.tls_unverified", host=host)
        return self.ctx.wrap_socket(sock, server_hostname=host)


def tls_context(cadata=None, verify=True, cert=None, key=None):
    """A Tls that checks the server against `cadata` (a DER CA certificate).

    cert/key (DER) give the device's own client certificate.  verify=False
    is the loud way out (rule 2); there is no quiet one."""
    if verify and not cadata:
        raise ValueError("a CA certificate is needed to verify the server")
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=cadata)
    else:
        if hasattr(ctx, "check_hostname"):
            # sbd-audit: ignore SBD004 the explicit verify=False opt-out for development, warned below
            ctx.check_hostname = False  # CPython: must go before CERT_NONE
        # sbd-audit: ignore SBD004 the explicit verify=False opt-out for development, warned below
        ctx.verify_mode = ssl.CERT_NONE
        print("sbd.net: WARNING: TLS certificate checks are OFF")
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return Tls(ctx, verify)


class Backoff:
    """Exponential back-off with jitter for reconnecting (rule 3)."""

    def __init__(self, base_ms=500, max_ms=60000):
        if type(base_ms) is not int or type(max_ms) is not int or not 0 < base_ms <= max_ms:
            raise ValueError("back-off needs 0 < base_ms <= max_ms")
        self.base_ms = base_ms
        self.max_ms = max_ms
        self.attempt = 0
        self.wait_ms = 0
        self._since = time.ticks_ms()

    def ready(self):
        """True when the next attempt may start (never sleeps)."""
        return time.ticks_diff(time.ticks_ms(), self._since) >= self.wait_ms

    def failed(self):
        """An attempt failed: the next waits longer."""
        import random

        self.attempt += 1
        w = min(self.max_ms, self.base_ms << min(self.attempt - 1, _MAX_SHIFT))
        half = w // 2
        self.wait_ms = half + random.getrandbits(16) * (w - half) // 65536
        self._since = time.ticks_ms()
        return self.wait_ms

    def succeeded(self):
        """An attempt worked: after failures, emit net.reconnect once (one
        event per outage, not one per try, so an outage cannot flood the
        telemetry ring with its own reports)."""
        if self.attempt:
            events.emit("net.reconnect", attempts=self.attempt)
        self.attempt = 0
        self.wait_ms = 0
