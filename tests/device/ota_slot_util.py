# Shared set-up of the app-slot device tests (test_ota_slots.py,
# test_boot_failed_trial.py, test_ota_slot_strays.py): the signed
# repository in data/ota/valid_updates, and a fresh board state trusting
# its second state's metadata.  Runs on MicroPython too.
import gc

from dtest import data_path, scratch_path
from sbd import _fs, boot
from sbd.ota import client

NOW = "2026-11-30T00:00:00Z"
BASE = "ota/valid_updates"
P, B = "acme-sensor", "pico_w"


def fresh(prefix, name):
    # Empty state and app folders (scratch prefix-state-name and
    # prefix-app-name), then a refresh from BASE/1: the trusted metadata.
    _fs.STATE_DIR = scratch_path(prefix + "-state-" + name)
    boot.APP_DIR = scratch_path(prefix + "-app-" + name)
    _fs.remove_tree(_fs.STATE_DIR)
    _fs.remove_tree(boot.APP_DIR)
    gc.collect()
    with open(data_path(BASE + "/root.json"), "rb") as f:
        root = f.read()
    return client.refresh(client.DirFetcher(data_path(BASE + "/1/metadata")), NOW, root)


def app(d):
    # The app file of the slot in folder d.
    with open(d + "/app.mpy", "rb") as f:
        return f.read()
