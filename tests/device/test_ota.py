# sbd.ota beyond the differential replay: sbd's own release checks (product,
# board, release number, security floor, paths), the pinned trust root, the
# trusted clock (more in test_ota_clock.py), and the strict file layout the verifier accepts.
# sbd-device: heapsize=144K timeout=300
# (was 128K: with sbd.boot 270 bytes larger, for the cached boot check, one
# refresh in this many-refresh process ran out at 128K and 120K, while 136K
# and up pass: fragmentation.  test_ota_heap.py holds the update path's own
# budget.)
import gc

from dtest import data_path, eq, raises, scratch_path, true
from sbd import _fs, ota
from sbd.crypto.sha256 import sha256
from sbd.ota import client
from sbd.ota import release as rl

NOW = "2026-11-30T00:00:00Z"
BASE = "ota/valid_updates"


def _read(name):
    with open(data_path(BASE + "/" + name), "rb") as f:
        return f.read()


def _fresh(name):
    _fs.STATE_DIR = scratch_path("ota-unit-" + name)
    _fs.remove_tree(_fs.STATE_DIR)
    gc.collect()


def _trusted(step=1):
    _fresh("t")
    return client.refresh(client.DirFetcher(data_path(BASE + "/%d/metadata" % step)), NOW, _read("root.json"))


def test_newest_release_for_this_product_and_board():
    t = _trusted()
    eq(rl.newest(t, "acme-sensor", "pico_w"), 2)
    eq(rl.newest(t, "acme-sensor", "esp32"), 0)
    eq(rl.newest(t, "other-product", "pico_w"), 0)
    r = rl.release(t, "acme-sensor", "pico_w", 2)
    eq((r.number, r.version, r.floor), (2, "1.2.0", 0))
    eq([p for _, p in r.files], ["app.mpy", "lib/util.mpy"])
    true(all(tp.startswith("acme-sensor/pico_w/2/") for tp, _ in r.files), "files from release 2 only")


def test_wrong_board_and_product_are_refused():
    t = _trusted()
    e = raises(ota.Refused, rl.release, t, "acme-sensor", "esp32", 2)
    eq(e.reason, "refused")
    raises(ota.Refused, rl.release, t, "other", "pico_w", 2)
    raises(ota.NotFound, rl.release, t, "acme-sensor", "pico_w", 3)


def test_release_numbers_only_go_up_and_never_below_the_floor():
    t = _trusted()
    r1 = rl.release(t, "acme-sensor", "pico_w", 1)
    r2 = rl.release(t, "acme-sensor", "pico_w", 2)
    rl.check_newer(r2, 1, 0)
    e = raises(ota.Rollback, rl.check_newer, r1, 2, 0)
    true("release 1, installed 2" in str(e), "names both numbers")
    raises(ota.Rollback, rl.check_newer, r2, 2, 0)  # the same release again
    e = raises(ota.Rollback, rl.check_newer, r2, 0, 3)
    true("below the security floor 3" in str(e), "names the floor")


def test_app_paths_stay_in_the_slot():
    for good in ("app.mpy", "lib/util.mpy", "a/b/c.bin", "lib/sbd/ota/client.mpy"):
        eq(rl.app_path(good), True, good)
    for bad in (
        "",
        "/app.mpy",
        "../boot.py",
        "lib/../../x",
        "./a",
        "a//b",
        ".sbd/factory/x",
        "lib/.hidden",
        "a\\b",
        "a b",
    ):
        eq(rl.app_path(bad), False, bad)


class _Targets:
    # What release() reads of a verified sbd.ota.Trusted: the targets map.
    def __init__(self, paths, product):
        custom = {"sbd": {"product": product, "boards": ["pico_w"], "release": 1, "version": "1", "floor": 0}}
        self.targets = {"targets": {p: {"custom": custom} for p in paths}}


def test_a_whole_target_path_must_be_clean_not_only_its_part_in_the_app():
    # A product ".." passes the product schema (letters, digits, "_.-"); the
    # fetcher would ask the server for targets/../pico_w/1/app.mpy.
    eq(rl.release(_Targets(["p/pico_w/1/app.mpy"], "p"), "p", "pico_w", 1).files, [("p/pico_w/1/app.mpy", "app.mpy")])
    for product in ("..", "."):
        t = _Targets([product + "/pico_w/1/app.mpy"], product)
        e = raises(ota.Refused, rl.release, t, product, "pico_w", 1)
        true("outside" in str(e), "names why")


def test_pinned_trust_root():
    _fresh("pin")
    root = _read("root.json")
    eq(client.trusted_root(root, sha256(root)), root)
    e = raises(ota.Refused, client.trusted_root, root, sha256(b"another root"))
    true("pinned" in str(e), "says why")
    raises(ota.NotFound, client.trusted_root, None, None)


def test_the_trusted_clock_never_goes_back():
    _fresh("clock")
    eq(client.newest_time(), "2026-11-01T00:00:00Z", "nothing seen: sbd.trustedtime's floor")
    eq(client.newest_time("2026-11-30T00:00:00Z"), "2026-11-30T00:00:00Z")
    eq(client.newest_time("2020-01-01T00:00:00Z"), "2026-11-30T00:00:00Z")
    eq(client.newest_time(), "2026-11-30T00:00:00Z")
    eq(client.newest_time("2027-01-01T00:00:00Z"), "2027-01-01T00:00:00Z")
    for bad in ("2026-11-30", "2026-11-30T00:00:00+01", "2026-11-30 00:00:00Z", 1700000000):
        raises(ValueError, client.newest_time, bad)


def test_expiry_is_judged_against_the_trusted_time():
    t = ota.Trusted(_read("root.json"), "2099-01-01T00:00:01Z")
    e = raises(ota.Expired, t.update_timestamp, _read("1/metadata/timestamp.json"))
    true("root: expired 2099-01-01T00:00:00Z" in str(e), "names role and both times")


def test_only_the_compact_layout_is_accepted():
    root = _read("root.json")
    ota.Trusted(root, NOW)
    # Indented: the signed bytes are not the canonical form.
    spaced = root.replace(b'{"signatures":', b'{ "signatures":')
    raises(ota.Malformed, ota.Trusted, spaced, NOW)
    # Keys swapped or trailing bytes.
    raises(ota.Malformed, ota.Trusted, root + b" ", NOW)
    i = root.index(b"]")
    raises(ota.Malformed, ota.Trusted, root[: i + 1] + b', "signed":' + root[i + 11 :], NOW)
    # One signature listed twice: refused, never counted twice.
    sigs = root[14 : i + 1]
    one = sigs[1 : sigs.index(b"}") + 1]
    doubled = b'{"signatures":[' + one + b"," + one + b"]" + root[i + 1 :]
    e = raises(ota.Malformed, ota.Trusted, doubled, NOW)
    true("two signatures by one key" in str(e), "named")
    raises(TypeError, ota.Trusted, bytearray(root), NOW)


def test_a_root_needs_its_own_threshold():
    root = _read("root.json")
    i = root.index(b"]")
    sigs = root[14 : i + 1]
    one = sigs[1 : sigs.index(b"}") + 1]
    e = raises(ota.Unsigned, ota.Trusted, b'{"signatures":[' + one + b"]" + root[i + 1 :], NOW)
    true("1 of 2" in str(e), "names the count and the threshold")


def test_oversized_metadata_is_refused_before_parsing():
    t = ota.Trusted(_read("root.json"), NOW)
    raises(ota.TooLarge, t.update_timestamp, b"{" * (ota.MAX_TIMESTAMP_BYTES + 1))
    eq(t.timestamp, None, "nothing trusted")


def test_a_refused_target_download_leaves_no_file():
    t = _trusted()
    dest = scratch_path("ota-unit-dl")
    path = "acme-sensor/pico_w/2/app.mpy"
    client.download(t, client.DirFetcher(data_path(BASE + "/1/targets")), path, dest)
    with open(dest, "rb") as f:
        eq(f.read(), b"M\x06print('release 2')\n")
    bad = data_path("ota/tampered_target/1/targets")
    raises(ota.Mismatch, client.download, t, client.DirFetcher(bad), path, dest)
    import os

    raises(OSError, os.stat, dest)


def test_rejections_are_events_with_a_reason_only():
    from sbd import events

    got = []

    def hook(name, fields):
        got.append((name, fields))

    events.subscribe(hook)
    try:
        _fresh("ev")
        d = data_path("ota/bad_signature/1/metadata")
        client.refresh(client.DirFetcher(data_path("ota/bad_signature/0/metadata")), NOW, _read("root.json"))
        raises(ota.Unsigned, client.refresh, client.DirFetcher(d), NOW, _read("root.json"))
    finally:
        events.unsubscribe(hook)
    eq(got, [("ota.rejected", {"reason": "signature"})])


class _Fake:
    """Stands for a Trusted whose targets carry these custom values (the
    release checks read only targets; signatures are tested above)."""

    def __init__(self, entries):
        self.targets = {"targets": {}}
        for path, kind in entries:
            sbd = {"product": "p", "boards": ["esp32"], "release": 4, "version": "4.0", "floor": 1}
            if kind is not None:
                sbd["kind"] = kind
            self.targets["targets"][path] = {"custom": {"sbd": sbd}}


def test_a_firmware_target_is_kept_apart_from_app_files():
    r = rl.release(_Fake([("p/esp32/4/fw.bin", "firmware")]), "p", "esp32", 4)
    eq((r.firmware, r.files), ("p/esp32/4/fw.bin", []))
    r = rl.release(_Fake([("p/esp32/4/main.py", None), ("p/esp32/4/lib/a.mpy", "app")]), "p", "esp32", 4)
    eq((r.firmware, [p for _, p in r.files]), (None, ["lib/a.mpy", "main.py"]))
    mixed = _Fake([("p/esp32/4/fw.bin", "firmware"), ("p/esp32/4/main.py", "app")])
    raises(ota.Refused, rl.release, mixed, "p", "esp32", 4)
    two = _Fake([("p/esp32/4/fw.bin", "firmware"), ("p/esp32/4/fw2.bin", "firmware")])
    raises(ota.Malformed, rl.release, two, "p", "esp32", 4)
    raises(ota.Malformed, rl.release, _Fake([("p/esp32/4/fw.bin", "bootloader")]), "p", "esp32", 4)


def test_slots_refuse_a_firmware_release():
    from sbd.boot import SlotError
    from sbd.ota import slots

    r = rl.release(_Fake([("p/esp32/4/fw.bin", "firmware")]), "p", "esp32", 4)
    raises(SlotError, slots.install, None, r, None)
