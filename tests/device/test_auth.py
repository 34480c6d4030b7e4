# sbd.auth: the per-device password check, back-off that a reboot cannot
# reset, password change rules, factory reset to the device's own password.
# Heap: this module imports provisioning, PBKDF2 and auth (about 40 KiB live
# with itself) and provisions again in every test, which fragments the heap:
# 86-88 KiB is the smallest heap from which every larger one ran it (unix
# port, .mpy), so it keeps 96K.  A booted device's record, password check and
# credential store run in 64K (test_boot_heap.py, bench/results/heap.md).
# sbd-device: heapsize=96K timeout=300
import os

import fakeboard  # noqa: F401  (installs the stand-in machine before sbd imports it)
from dtest import eq, raises, scratch_path, true
from sbd import _fs, auth, events
from sbd import identity as idn
from sbd.crypto.kdf import pbkdf2_hmac_sha256
from sbd.identity import provision as prov

PASSWORD = "K7pQ-x9Ve-Tm3R-wHz4"
SALT = b"\x33" * 16
ITER = 1000
NOW = [1000]
SEEN = []


def _clock():
    return NOW[0]


def _fresh():
    _fs.FACTORY_DIR = scratch_path("factory")
    _fs.STATE_DIR = scratch_path("state")
    for p in (idn.record_path(), _fs.STATE_DIR + "/" + auth.STATE_NAME):
        try:
            os.remove(p)
        except OSError:
            pass
    _provision(bytes(32), PASSWORD)
    auth._clock = _clock
    auth._restart()
    del SEEN[:]
    events.subscribe(_listen)


def _provision(host_entropy, password, replace=False):
    prov.provision(
        host_entropy,
        "SBD-7",
        "Model",
        "2030-01-31",
        "sec@x.example",
        SALT,
        ITER,
        pbkdf2_hmac_sha256(password.encode(), SALT, ITER, 32),
        replace=replace,
    )


def _listen(name, fields):
    SEEN.append((name, fields))


def _reboot():
    auth._restart()


def _names():
    return [n for n, _ in SEEN]


def test_no_record_no_login():
    _fresh()
    os.remove(idn.record_path())
    auth._restart()
    raises(idn.NotProvisioned, auth.check, PASSWORD)


def test_right_and_wrong():
    _fresh()
    eq(auth.check(PASSWORD), True)
    eq(auth.check(PASSWORD.encode()), True)
    eq(auth.check("wrong"), False)
    eq(auth.failures(), 1)
    eq(auth.check(PASSWORD), True)
    eq(auth.failures(), 0)
    raises(TypeError, auth.check, 1234)
    eq(auth.check("x" * 1000), False)  # over the bound: a failure, no hashing
    # events carry counts, never a password
    for name, fields in SEEN:
        for v in fields.values():
            true(PASSWORD not in str(v) and "wrong" not in str(v), "no password in events")
    true("auth.failure" in _names() and "auth.ok" in _names(), "events emitted")


def test_back_off_grows_and_locks():
    _fresh()
    for i in range(3):
        eq(auth.check("nope%d" % i), False)
    eq(auth.wait_ms(), 1000)
    e = raises(auth.Locked, auth.check, PASSWORD)  # even the right one waits
    eq(e.wait_ms, 1000)
    eq(auth.failures(), 3)  # a locked try is not counted
    NOW[0] += 1000
    eq(auth.check("nope"), False)
    eq(auth.wait_ms(), 2000)
    NOW[0] += 2000
    eq(auth.check("nope"), False)
    eq(auth.wait_ms(), 4000)
    true(("auth.lockout", {"count": 5, "wait_ms": 4000}) in SEEN, "lockout event")
    NOW[0] += 4000
    eq(auth.check(PASSWORD), True)
    eq(auth.wait_ms(), 0)


def test_back_off_is_capped():
    eq(auth.delay_ms(0), 0)
    eq(auth.delay_ms(2), 0)
    eq(auth.delay_ms(3), 1000)
    eq(auth.delay_ms(10), 128000)
    eq(auth.delay_ms(11), 256000)
    eq(auth.delay_ms(12), 300000)
    eq(auth.delay_ms(10**9), 300000)


def test_reboot_restarts_the_wait_in_full():
    _fresh()
    for i in range(4):
        if i:
            NOW[0] += auth.wait_ms()
        auth.check("bad")
    eq(auth.failures(), 4)
    NOW[0] += 1999  # almost over...
    _reboot()  # ...and a reboot does not shorten it: the full wait again
    eq(auth.failures(), 4)
    eq(auth.wait_ms(), 2000)
    raises(auth.Locked, auth.check, PASSWORD)


def test_count_first_then_check():
    # The counter on flash already includes a try while it is being checked:
    # a power cut during the PBKDF2 leaves the failure counted.
    _fresh()
    real = auth._verifier
    seen = []

    def spy(state):
        _reboot_copy = auth._path()
        with open(_reboot_copy, "rb") as f:
            seen.append(int.from_bytes(f.read()[5:9], "big"))
        return real(state)

    auth._verifier = spy
    try:
        auth.check("bad")
        auth.check(PASSWORD)
    finally:
        auth._verifier = real
    eq(seen, [1, 2])
    eq(auth.failures(), 0)


def test_change_password_rules():
    _fresh()
    weak = (
        "short",
        "x" * 65,
        "1234567890",
        "Password123",
        "aaaaaaaaaaaa",
        "abcdefghijkl",
        "9876543210",
        "tab\there12345",
        "my-sbd-7-device",
        12345678901,
    )
    for new in weak:
        raises((auth.WeakPassword, TypeError), auth.change, PASSWORD, new)
    eq(auth.failures(), 0)  # weak new passwords are refused before any check
    raises(auth.WrongPassword, auth.change, "not it", "a-Good-new-Pass")
    eq(auth.failures(), 1)
    raises(auth.WeakPassword, auth.change, PASSWORD, PASSWORD)
    auth.change(PASSWORD, "a-Good-new-Pass")
    eq(auth.check(PASSWORD), False)
    eq(auth.check("a-Good-new-Pass"), True)
    _reboot()
    eq(auth.check("a-Good-new-Pass"), True)
    e = raises(auth.WeakPassword, auth.change, "a-Good-new-Pass", "qwertyuiop")
    true("qwerty" not in str(e), "the message does not echo the password")


def test_common_passwords_match_whole_entries_only():
    # The list is one newline-separated string (heap): an entry matches in
    # any case, a part of an entry or two entries together never do.
    _fresh()
    for new in ("0123456789", "asdfghjkl;", "PassWord123", "superman123", "ADMINISTRATOR"):
        e = raises(auth.WeakPassword, auth.check_new_password, new)
        eq(str(e), "too common")
    for new in ("ssword1234", "password12345", "xqwertyuiop", "dragon12345"):
        auth.check_new_password(new)  # not an entry: no error
    e = raises(auth.WeakPassword, auth.check_new_password, "0123456789\n1234567890")
    eq(str(e), "contains a control character")


def test_factory_reset_returns_to_this_devices_password():
    _fresh()
    auth.change(PASSWORD, "a-Good-new-Pass")
    auth.check("bad")
    auth.factory_reset()
    eq(auth.failures(), 1)  # kept
    _reboot()
    eq(auth.check("a-Good-new-Pass"), False)
    eq(auth.check(PASSWORD), True)
    true("auth.factory_reset" in _names(), "event")


def test_tampered_state_fails_closed():
    _fresh()
    auth.change(PASSWORD, "a-Good-new-Pass")
    path = auth._path()
    with open(path, "rb") as f:
        data = bytearray(f.read())
    for i in (5, 8, 9, 40, len(data) - 1):  # counter, flag, verifier, tag
        bad = bytearray(data)
        bad[i] ^= 0x01
        with open(path, "wb") as f:
            f.write(bad)
        _reboot()
        del SEEN[:]
        true(auth.wait_ms() > 0, "tampered state: maximum back-off")
        true("auth.tamper" in _names(), "tamper reported")
    # ...and the planted or damaged verifier is not used: after the wait the
    # factory password is the one that works.
    NOW[0] += auth.wait_ms()
    eq(auth.check(PASSWORD), True)


def test_state_of_another_board_is_tampered():
    _fresh()
    auth.check("bad")
    with open(auth._path(), "rb") as f:
        state = f.read()
    # Same serial and password, but a new root key (another board, or a
    # re-provisioned one): the old state's MAC no longer verifies.
    os.remove(idn.record_path())
    _provision(b"\x01" * 32, PASSWORD)
    with open(auth._path(), "wb") as f:
        f.write(state)
    _reboot()
    true(auth.wait_ms() > 0, "refused")


def test_reprovisioning_starts_auth_afresh():
    # A new record (replace=True) means a new root key: the old state is
    # deleted first, not left to read as tampered (a locked-out board).
    _fresh()
    for _ in range(5):
        NOW[0] += auth.wait_ms()
        auth.check("bad")
    true(auth.wait_ms() > 0, "locked before")
    _provision(b"\x02" * 32, "another-password", replace=True)
    _reboot()
    del SEEN[:]
    eq((auth.failures(), auth.wait_ms()), (0, 0))
    eq(auth.check("another-password"), True)
    true("auth.tamper" not in _names(), "no tamper")


def test_a_wait_long_over_survives_the_ticks_wrap():
    # ticks_ms wraps every 2**30 ms; a lockout looked at a week later must
    # not read as a new wait of days.
    _fresh()
    for _ in range(4):
        NOW[0] += auth.wait_ms()
        auth.check("bad")
    true(auth.wait_ms() > 0, "locked")
    NOW[0] = (NOW[0] + 7 * 24 * 3600 * 1000) & ((1 << 30) - 1)
    eq(auth.wait_ms(), 0)
    eq(auth.check(PASSWORD), True)
