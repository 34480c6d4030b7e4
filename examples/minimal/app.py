# The minimal sbd app: says who the board is, blinks its LED, confirms a new
# release after a trial boot, and checks for a signed update.  Runs on a real
# board and on the virtual board alike (which logs the LED).
#
# Updates: /update.json names the repository ({"url": "http://host:port/",
# "product": ..., "board": ...}) and /update_root.json is the repository's
# first root metadata (its SHA-256 is pinned in the factory record when
# provisioned with --trust-root).  Offline, or refused: the app says why and
# keeps running the release it has.
import gc
import json
import os
import sys
import time

import machine
from micropython import const

import sbd
from sbd import board, boot

VERSION = "1.0.0"  # this copy's version (a release's comes from its signed metadata)
# The on-board LED: "LED" on a Pico W / Pico 2 W, GPIO 2 on most ESP32 DevKits.
LED = 2 if board.FAMILY == "esp32" else "LED"
_BOOTS = "boots.txt"
_CONFIG = "/update.json"
_ROOT = "/update_root.json"
# On a trial boot a failed update check is tried again this many times, after
# retry_s (update.json, default 2) seconds, then twice as long each time: the
# release has only its few trial boots to pass its check (Wi-Fi still joining,
# a repository briefly away), so it does not wait for the next boot.
_TRIES = const(3)


def boots():
    # A tiny persistent counter: shows the filesystem survives power-off.
    try:
        with open(_BOOTS) as f:
            n = int(f.read() or "0")
    except (OSError, ValueError):
        n = 0
    n += 1
    with open(_BOOTS, "w") as f:
        f.write(str(n))
    return n


def blink(times=3, ms=100):
    led = machine.Pin(LED, machine.Pin.OUT, value=0)
    for _ in range(times):
        led.on()
        time.sleep_ms(ms)
        led.off()
        time.sleep_ms(ms)


def _read(path, limit):
    # The whole file, at most limit bytes (read(n) would allocate n first).
    with open(path, "rb") as f:
        n = f.seek(0, 2)
        if n > limit:
            raise ValueError(path + ": too large")
        f.seek(0)
        return f.read(n)


def _url(url):
    # "http://host:port/base/" -> (host, port, base); only plain http (the
    # signed metadata, not the transport, makes the update trustworthy).
    if not url.startswith("http://"):
        raise ValueError("update url: only http:// is supported")
    rest = url[7:]
    i = rest.find("/")
    hostport, base = (rest, "/") if i < 0 else (rest[:i], rest[i:])
    host, _, port = hostport.partition(":")
    return host, int(port or "80"), base if base.endswith("/") else base + "/"


def check_updates(pin):
    """Fetch, verify and install a newer signed release into the slot that
    is not running (on trial from the next boot).  pin: the factory record's
    trust_root (or None).  Returns True when the update path works (the
    repository's metadata verified, or no repository is configured: updates
    then come by `sbd ota push`), else False; never raises for a refusal or
    the network."""
    try:
        cfg = json.loads(_read(_CONFIG, 512))
        root = _read(_ROOT, 16384)
        host, port, base = _url(cfg["url"])
        product, board = cfg["product"], cfg["board"]
    except (OSError, ValueError, KeyError, TypeError):
        print("update:       no repository configured (%s, %s)" % (_CONFIG, _ROOT))
        return not _exists(_CONFIG)  # settings there but broken: the path does not work
    # Only the refresh's code now; the install's (sbd.ota.slots and its
    # download code) once a newer release is there.  The metadata is read
    # into one block each: start unfragmented.
    gc.collect()
    from sbd import ota
    from sbd.ota import client, release
    from sbd.ota.http import HttpFetcher

    ok = False
    try:
        # Expiry is judged by sbd.trustedtime (now=None): never the board's
        # clock, which nothing sets on a Pico W and NTP does not authenticate.
        t = client.refresh(HttpFetcher(host, port, base + "metadata/"), None, root, pin)
        del root
        n = release.newest(t, product, board)
        ok = True  # verified metadata from the repository: the path works
        cur, _ = boot.installed()
        if n <= cur:
            print("update:       up to date (release %d)" % cur)
            return ok
        rel = release.release(t, product, board, n)
        print("update:       release %d (%s) signed and verified; installing into the other slot" % (n, rel.version))
        gc.collect()
        from sbd.ota import slots

        slot = slots.install(t, rel, HttpFetcher(host, port, base + "targets/"))
    except ota.OtaError as e:
        # Offline, or the update was refused (sbd.ota emitted ota.rejected):
        # keep running what we have.
        print("update:       REFUSED (%s: %s); keeps running the release it has" % (e.reason, e))
        return ok
    except (OSError, ValueError, boot.SlotError) as e:
        print("update:       not now (%s); keeps running the release it has" % e)
        return ok
    except MemoryError:
        gc.collect()
        print("update:       not now (out of memory); keeps running the release it has")
        return ok
    finally:
        _unload(("sbd.ota",))  # its code leaves the heap (a retry loads it again)
    print("update:       release %d installed in slot %s, on trial from the next boot" % (n, slot))
    return ok


def _unload(names):
    # Drop the sbd modules `names` (and their submodules) from the heap:
    # sys.modules and the sbd package's attributes are what keep a module's
    # code alive.  The next import loads it again from flash.
    for m in list(sys.modules):
        for name in names:
            if m == name or m.startswith(name + "."):
                del sys.modules[m]
                break
    for name in names:
        try:
            delattr(sbd, name[4:])
        except (AttributeError, KeyError):  # not loaded (MicroPython raises KeyError)
            pass
    gc.collect()


def _retry_s():
    try:
        return max(1, min(60, int(json.loads(_read(_CONFIG, 512)).get("retry_s", 2))))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return 2


def _exists(path):
    try:
        os.stat(path)
    except OSError:
        return False
    return True


def main(slot=None):
    uid = machine.unique_id()
    st = os.statvfs("/")
    gc.collect()
    p = boot.read_pointer() if slot else None
    if p is None:
        running = "factory copy " + VERSION
    else:
        running = "release %d (%s) from slot %s" % (p["release"], p["version"], p["slot"])
    print("sbd", sbd.__version__, "minimal example:", running)
    print("unique id:   ", "".join("%02x" % b for b in uid))
    print("reset cause: ", machine.reset_cause())
    print("boot count:  ", boots())
    provisioned, pin = _who()
    print("filesystem:  ", st[0] * st[3] // 1024, "KiB free of", st[0] * st[2] // 1024, "KiB")
    gc.collect()
    print("heap free:   ", gc.mem_free(), "bytes")
    blink()
    trial = p is not None and not p["confirmed"]
    # No factory record: no network services, updates included (they can
    # still come by `sbd ota push`).
    works = True
    if provisioned:
        wait = _retry_s()
        for i in range(_TRIES + 1 if trial else 1):
            if i:
                print("update:       trying again in %d s (a release on trial must pass its update check)" % wait)
                time.sleep(wait)
                wait *= 2
            works = check_updates(pin)
            if works:
                break
    if trial:
        # The self-test of a release on trial: it got this far (identity
        # read, LED driven) and its update path works (the repository's
        # metadata verified).  Confirming keeps it; otherwise, after its
        # trial boots, sbd.boot goes back to the previous release: a release
        # that cannot update is never kept.
        if works:
            boot.confirm()
            print(
                "trial boot:   release %d works: confirmed (security floor now %d)"
                % (p["release"], boot.installed()[1])
            )
        else:
            print("trial boot:   release %d not confirmed: its update check failed" % p["release"])


def _who():
    # (provisioned, trust_root pin), the serial printed.  sbd.identity and
    # the crypto it loaded (HMAC, HKDF) are unloaded after: an update check
    # needs that heap (on a Pico W an install ran out of it with them in).
    from sbd import identity

    try:
        me = identity.load()
    except identity.IdentityError as e:
        # No factory record: an app would refuse to start its network services here.
        print("identity:    ", e)
        return False, None
    finally:
        identity = None
        _unload(("sbd.identity", "sbd.crypto"))
    print("serial:      ", me.serial, "(" + me.model + ", security updates until " + me.support_end + ")")
    return True, me.trust_root
