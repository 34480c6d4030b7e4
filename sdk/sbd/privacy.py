# sbd.privacy: the user data wipe (UK Code of Practice 11, ETSI EN 303 645
# 5.11: make it easy for users to delete their data).
#
#     token = privacy.wipe_token()          # step 1 (e.g. the settings page)
#     privacy.wipe_user_data(confirm=token)  # step 2, after the user confirms
#     privacy.resume()                       # at every boot, before the app
#
# What the wipe clears: DATA_DIR (/data, the app's user data), the credential
# store (sbd.creds.wipe: overwritten, then removed) and SETTINGS_DIR
# (/.sbd/settings, the personal settings an app keeps), and it returns
# sbd.auth to the device's own factory password (the failure count and its
# back-off stay).  What it keeps: the factory record (/.sbd/factory), the
# SDK and app (/lib, the app files), and the credentials named in
# KEEP_CREDS, which the factory made and which are the device's, not the
# user's (sbd.net.broker's MQTT secret: without it the board could not send
# telemetry until it was provisioned again).
#
# Rules, in order:
#   1. confirmation: wipe_user_data needs the token from the latest
#      wipe_token() of this boot, at most TOKEN_MS old by both the ticks and
#      time.time() (a ticks age wraps); a token is used once, right or
#      wrong, so a stray call or a forged request without it wipes nothing
#      (NotConfirmed, `privacy.wipe_refused`);
#   2. intent first: a marker file (STATE_DIR/wipe.intent) is written
#      atomically before anything is cleared and removed after everything
#      is; resume() at boot finds a marker left by a power cut and does the
#      whole wipe again (every step is idempotent), so a cut at any flash
#      write ends, one boot later, in a finished wipe
#      (tests/vboard/test_sdk_creds.py cuts at every write);
#   3. events: privacy.wiped, privacy.wipe_resumed, privacy.wipe_refused.
import os
import time

from micropython import const

from sbd import events

DATA_DIR = "/data"
SETTINGS_DIR = "/.sbd/settings"
MARKER_NAME = "wipe.intent"  # in sbd._fs.STATE_DIR
TOKEN_MS = const(120000)
# Factory-made credentials a user data wipe keeps (sbd.net.broker.CRED; an
# app may add its own device credentials here, never a user's).
KEEP_CREDS = ("mqtt.broker",)

_clock = time.ticks_ms  # replaced by tests
_seconds = time.time  # replaced by tests
_token = None
_token_at = 0
_token_s = 0


class PrivacyError(Exception):
    """Base of the errors of sbd.privacy."""


class NotConfirmed(PrivacyError):
    """wipe_user_data was called without the current confirmation token."""


def _marker():
    from sbd import _fs

    return _fs.STATE_DIR + "/" + MARKER_NAME


def wipe_token():
    """A fresh one-use confirmation token (str) for wipe_user_data; any
    earlier token stops working."""
    global _token, _token_at, _token_s
    import binascii

    from sbd.crypto import random_bytes

    _token = binascii.hexlify(random_bytes(8)).decode()
    _token_at = _clock()
    _token_s = _seconds()
    return _token


def _fresh_token():
    # Within TOKEN_MS of wipe_token(), by two clocks that must both agree:
    # a ticks difference wraps (every 2**30 ms on a Pico W: an unused token
    # would read as new again 12.4 days later, and as negative from 6.2
    # days), and time.time() may be set while the board runs (then the
    # token is refused and the user asks for a new one: the safe side).
    age = time.ticks_diff(_clock(), _token_at)
    age_s = _seconds() - _token_s
    return 0 <= age <= TOKEN_MS and 0 <= age_s <= TOKEN_MS // 1000 + 1


def wipe_user_data(confirm=None):
    """Clear the user's data, credentials and personal settings; back to
    the factory password.  confirm: the token from wipe_token()."""
    global _token
    from sbd.crypto import ct_equal

    t = _token
    _token = None  # rule 1: one use, whatever the outcome
    if t is None or not isinstance(confirm, str) or not _fresh_token() or not ct_equal(confirm.encode(), t.encode()):
        events.emit("privacy.wipe_refused")
        raise NotConfirmed("the user data wipe needs the token from privacy.wipe_token()")
    from sbd import _fs

    _fs.makedirs(_fs.STATE_DIR)
    _fs.write_atomic(_marker(), b"wipe")
    _wipe()
    events.emit("privacy.wiped")


def pending():
    """True if a wipe was started and not finished (a power cut)."""
    try:
        os.stat(_marker())
        return True
    except OSError:
        return False


def resume():
    """Finish a wipe a power cut interrupted; call at boot before the app
    reads its data.  True if there was one."""
    if not pending():
        return False
    events.emit("privacy.wipe_resumed")
    _wipe()
    events.emit("privacy.wiped")
    return True


def _wipe():
    from sbd import _fs, auth, creds
    from sbd.identity import IdentityError

    creds.wipe(keep=KEEP_CREDS)
    _fs.remove_tree(DATA_DIR)
    _fs.remove_tree(SETTINGS_DIR)
    try:
        auth.factory_reset()
    except IdentityError:
        pass  # no usable factory record: no password to return to, nothing personal in auth
    os.remove(_marker())
