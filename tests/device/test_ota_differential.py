# sbd.ota against python-tuf's ngclient: tests/host/ota_scenarios.py made
# each repository state with python-tuf and recorded what ngclient decided
# and persisted after it (tests/device/data/ota/*/expect.txt; the host test
# test_ota_vectors.py checks ngclient's decisions match the outcomes named
# there).  Here sbd.ota.client replays every state and must refuse exactly
# where ngclient refused, for the reason named, and leave exactly the
# metadata ngclient left: an attack changes nothing that was trusted.
# sbd-device: heapsize=128K timeout=600
import binascii
import gc
import os

from dtest import data_path, eq, scratch_path
from sbd import _fs, ota
from sbd.crypto.sha256 import sha256
from sbd.ota import client

ROLES = ("root", "timestamp", "snapshot", "targets")
NOW = "2026-11-30T00:00:00Z"


def _state_hash(role, initial):
    try:
        with open(client.state_dir() + "/" + role + ".json", "rb") as f:
            data = f.read()
    except OSError:
        data = None
    if data is None:
        data = initial if role == "root" else None
    return "-" if data is None else binascii.hexlify(sha256(data)).decode()


def _run(name):
    base = data_path("ota/" + name)
    _fs.STATE_DIR = scratch_path("ota-" + name)
    _fs.remove_tree(_fs.STATE_DIR)
    with open(base + "/root.json", "rb") as f:
        initial = f.read()
    with open(base + "/expect.txt") as f:
        lines = f.read().split("\n")
    i = 0
    for line in lines:
        if not line:
            continue
        parts = line.split(" ")
        want, hashes, downloads = parts[0], parts[1:5], parts[5]
        d = base + "/" + str(i)
        t = None
        gc.collect()
        got = "ok"
        try:
            t = client.refresh(client.DirFetcher(d + "/metadata"), NOW, initial)
            if downloads != "-":
                for path in downloads.split(","):
                    client.download(t, client.DirFetcher(d + "/targets"), path, scratch_path("ota-target"))
        except ota.OtaError as e:
            got = e.reason
        where = "%s step %d" % (name, i)
        eq(got, want, where)
        for r, h in zip(ROLES, hashes):
            eq(_state_hash(r, initial), h, where + " persisted " + r)
        i += 1
    eq(i > 0, True, name + " has steps")


def _all(names):
    for n in names:
        _run(n)


def test_valid_updates_and_consistent_snapshots():
    _all(("valid_updates", "consistent_snapshot"))


def test_rollback_is_refused():
    _all(("timestamp_rollback", "snapshot_rollback", "targets_rollback"))


def test_freeze_is_refused():
    _all(("freeze_timestamp", "freeze_snapshot", "freeze_targets", "expired_root"))


def test_mix_and_match_is_refused():
    _all(("mix_and_match", "mix_and_match_hashed", "mix_and_match_targets"))


def test_arbitrary_metadata_is_refused():
    _all(("bad_signature", "tampered_metadata", "unknown_key", "threshold_not_met"))


def test_root_rotation():
    _all(("root_rotation", "root_key_rotation", "root_not_signed_by_new_keys", "root_version_skip"))


def test_endless_and_tampered_targets_are_refused():
    _all(("endless_timestamp", "endless_target", "tampered_target", "short_target"))


def test_every_scenario_is_replayed():
    covered = (
        "valid_updates consistent_snapshot timestamp_rollback snapshot_rollback targets_rollback freeze_timestamp"
        " freeze_snapshot freeze_targets expired_root mix_and_match mix_and_match_hashed mix_and_match_targets"
        " bad_signature tampered_metadata unknown_key threshold_not_met root_rotation root_key_rotation"
        " root_not_signed_by_new_keys root_version_skip endless_timestamp endless_target tampered_target short_target"
    ).split()
    have = sorted(n for n in os.listdir(data_path("ota")) if not n.endswith(".json"))
    eq(have, sorted(covered), "scenarios in data/ota")
