"""sbd.creds and sbd.privacy on virtual boards (real MicroPython, littlefs,
real reboots): a power cut at every flash program and erase of a set, a
delete, a wipe and a user data wipe; random kills of the board process while
it writes; a store copied to another board does not open there."""

from __future__ import annotations

import os
import random
import signal
import threading

from conftest import board_processes

from harness.vboards import SdkBoard, power_cut_sweep
from sbdtools.vboard import runner

PASSWORD = "Q4mz-Hr7k-Wd9p-Lx3t"
ITER = 1000
OLD = {"wifi": "old-wifi-pass-1", "mqtt": "old-mqtt-token-2", "key": "old-tls-key-3" * 20}
NEW_MQTT = "new-mqtt-token-22"
BROKER = "factory-broker-secret-Zq81"


# Prints the store: each name and its value, or TAMPER.
INSPECT = """
from sbd import creds, events
seen = []
events.subscribe(lambda n, f: seen.append(n))
try:
    for n in creds.names():
        print('ENTRY', n, creds.get(n).decode())
    print('OPENED')
except creds.Tampered:
    print('TAMPER')
print('EVENTS', ' '.join(seen))
"""


def _provisioned(board: SdkBoard, entries: dict[str, str] | None = None) -> SdkBoard:
    board.provision(PASSWORD, iterations=ITER)
    sets = "".join(f"creds.set({k!r}, {v!r})\n" for k, v in (entries or {}).items())
    if sets:
        board.exec("from sbd import creds\n" + sets)
    return board


def _store(res: runner.BootResult) -> dict[str, str]:
    out = res.output
    assert "TAMPER" not in out and "creds.tamper" not in out, out
    assert "OPENED" in out, out
    return dict(ln.split(" ", 2)[1:] for ln in out.splitlines() if ln.startswith("ENTRY "))


def test_power_cut_at_every_write_of_a_set(sdk_board: SdkBoard) -> None:
    board = _provisioned(sdk_board, OLD)
    seen = set()

    def check(b: SdkBoard, res: runner.BootResult) -> None:
        st = _store(res)
        assert st.keys() == OLD.keys(), st
        assert st["mqtt"] in (OLD["mqtt"], NEW_MQTT), st
        assert st["wifi"] == OLD["wifi"] and st["key"] == OLD["key"], "an untouched entry changed"
        seen.add(st["mqtt"])

    sweep = power_cut_sweep(board, f"from sbd import creds\ncreds.set('mqtt', {NEW_MQTT!r})", check, inspect=INSPECT)
    assert seen == {OLD["mqtt"], NEW_MQTT}, "the sweep crossed the commit point"
    print(f"set: {len(sweep.cuts)} cut points")
    assert len(sweep.cuts) == sweep.ops >= 2


def test_power_cut_at_every_write_of_a_new_entry_and_a_delete(sdk_board: SdkBoard) -> None:
    board = _provisioned(sdk_board, OLD)
    seen = set()

    def check(b: SdkBoard, res: runner.BootResult) -> None:
        st = _store(res)
        assert st in ({**OLD, "tok": "t0k"}, {k: v for k, v in OLD.items() if k != "wifi"}, OLD) or (
            st == {**{k: v for k, v in OLD.items() if k != "wifi"}, "tok": "t0k"}
        ), st
        seen.add(tuple(sorted(st)))

    op = "from sbd import creds\ncreds.set('tok', 't0k')\ncreds.delete('wifi')"
    sweep = power_cut_sweep(board, op, check, inspect=INSPECT)
    assert len(seen) == 3, f"every state crossed: {seen}"
    print(f"set+delete: {len(sweep.cuts)} cut points")


def test_power_cut_at_every_write_of_a_wipe(sdk_board: SdkBoard) -> None:
    board = _provisioned(sdk_board, OLD)
    seen = set()

    def check(b: SdkBoard, res: runner.BootResult) -> None:
        st = _store(res)
        assert st in (OLD, {}), st  # all or nothing
        seen.add(len(st))
        # The store reads as empty once renamed aside; the overwrite is then
        # finished by that first read, so no ciphertext file stays behind.
        out = b.exec("import os\nprint('LS', sorted(os.listdir('/.sbd/state')))").output
        if not st:
            assert "creds.bin" not in out, out

    sweep = power_cut_sweep(board, "from sbd import creds\ncreds.wipe()", check, inspect=INSPECT)
    # The wipe's first write is the rename's metadata commit, and a cut
    # tears that write after the commit's few bytes: every cut reads empty.
    assert seen == {0}, seen
    print(f"wipe: {len(sweep.cuts)} cut points")


USER_DATA = (
    """
import os
for d in ('/data', '/data/photos', '/.sbd/settings'):
    os.mkdir(d)
for p in ('/data/a.txt', '/data/photos/b.jpg', '/.sbd/settings/tz'):
    with open(p, 'w') as f:
        f.write('personal ' * 30)
from sbd import auth
auth.change(%r, 'my-Own-pass-2026')
"""
    % PASSWORD
)

# At boot: finish an interrupted wipe, then report what is there.
AFTER_WIPE = (
    """
from sbd import privacy
print('RESUMED', privacy.resume())
import os
def there(p):
    try:
        os.stat(p)
        return 1
    except OSError:
        return 0
print('LEFT', there('/data'), there('/.sbd/settings'), there('/.sbd/factory/identity.bin'), there('/lib/sbd'))
from sbd import auth
print('PW', auth.check('my-Own-pass-2026'), auth.check(%r))
"""
    % PASSWORD
    + INSPECT
)


def test_power_cut_at_every_write_of_the_user_data_wipe(sdk_board: SdkBoard) -> None:
    # The factory-made broker secret (privacy.KEEP_CREDS) survives every cut.
    board = _provisioned(sdk_board, {**OLD, "mqtt.broker": BROKER})
    board.exec(USER_DATA)
    seen = set()

    def check(b: SdkBoard, res: runner.BootResult) -> None:
        out = res.output
        st = _store(res)
        left = next(ln for ln in out.splitlines() if ln.startswith("LEFT ")).split()[1:]
        assert left[2:] == ["1", "1"], "the factory record and the SDK stay"
        if st == {**OLD, "mqtt.broker": BROKER}:  # cut before the intent marker: nothing wiped
            assert left[:2] == ["1", "1"] and "PW True False" in out and "RESUMED False" in out, out
            seen.add("untouched")
        else:  # the marker was on flash: the wipe is complete after this boot
            assert st == {"mqtt.broker": BROKER}, out
            assert left[:2] == ["0", "0"] and "PW False True" in out, out
            seen.add("resumed" if "RESUMED True" in out else "finished")

    op = "from sbd import privacy\nprivacy.wipe_user_data(confirm=privacy.wipe_token())"
    sweep = power_cut_sweep(board, op, check, inspect=AFTER_WIPE)
    assert seen == {"untouched", "resumed", "finished"}, seen
    print(f"user data wipe: {len(sweep.cuts)} cut points")


def test_a_store_copied_to_another_board_does_not_open(make_sdk_board) -> None:  # type: ignore[no-untyped-def]
    # Same firmware, same provisioning script (even the same root key): only
    # the board's unique id differs, and the copied file fails there.
    a = _provisioned(make_sdk_board(name="a"), OLD)
    b = _provisioned(make_sdk_board(name="b", uid=bytes.fromhex("e661a4d1234567ab")))
    dump = a.exec(
        "import binascii\nprint('STORE', binascii.hexlify(open('/.sbd/state/creds.bin','rb').read()).decode())"
    )
    blob = next(ln for ln in dump.output.splitlines() if ln.startswith("STORE "))[6:]
    out = b.exec(
        "import os, binascii\ntry:\n os.mkdir('/.sbd/state')\nexcept OSError:\n pass\n"
        f"with open('/.sbd/state/creds.bin', 'wb') as f:\n f.write(binascii.unhexlify({blob!r}))\n" + INSPECT
    ).output
    assert "TAMPER" in out and "creds.tamper" in out, out
    for v in OLD.values():
        assert v not in out


# Each boot first reports the store, then rewrites it for ever: x, then y,
# then cnt, each set to the next generation g.  Every state a kill can leave
# is a prefix of that sequence: cnt = c, x in (c, c+1), y in (c, x).
WRITER = (
    INSPECT
    + """
g = int(creds.get('cnt'))
print('WRITING')
while True:
    g += 1
    creds.set('x', 'x%d' % g)
    creds.set('y', 'y%d' % g)
    creds.set('cnt', str(g))
"""
)


def _consistent(st: dict[str, str], last: int) -> int:
    assert st["keep"] == OLD["key"], "the untouched entry changed"
    c = int(st["cnt"])
    x, y = int(st["x"][1:]), int(st["y"][1:])
    assert x in (c, c + 1) and y in (c, x), st
    assert c >= last, f"the store went back from {last} to {c}"
    return c


def _kill(board: SdkBoard) -> None:
    for p in board_processes(board.vb):
        os.kill(p, signal.SIGKILL)


def test_random_kills_while_writing(sdk_board: SdkBoard) -> None:
    # SIGKILL of the board process at a random instant after the writer says
    # it is writing (a power cut the board cannot see coming); each boot
    # checks what the previous kill left before it writes again.
    board = _provisioned(sdk_board, {"keep": OLD["key"], "x": "x0", "y": "y0", "cnt": "0"})
    rng = random.Random(20261130)
    kills, last = 0, 0
    for _ in range(320):
        delay = rng.uniform(0.0, 0.04)

        def kill_later(chunk: bytes, delay: float = delay) -> None:
            if b"WRITING" in chunk:
                threading.Timer(delay, _kill, (board,)).start()

        res = board.boot(WRITER, timeout=120, on_output=kill_later)
        assert res.ended == runner.POWER_CUT, res.output
        assert not res.formatted, "a kill left a filesystem that does not mount"
        last = _consistent(_store(res), last)
        kills += 1
    last = _consistent(_store(board.exec(INSPECT)), last)
    print(f"random kills: {kills}, generations written: {last}")
    assert kills >= 300 and last > 20, "the writer made progress between kills"
