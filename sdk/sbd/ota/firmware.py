# sbd.ota.firmware: an ESP32 firmware release (a MicroPython app image,
# target kind "firmware") written into the next app partition.
#
# Rules, in order:
#   1. one trial at a time, and anti-rollback: the release must be newer
#      than the confirmed firmware and not below the security floor;
#   2. the image streams through one 1 KiB buffer into
#      esp32.Partition(RUNNING).get_next_update(), each 4 KiB sector erased
#      when first reached, its length and SHA-256 checked against the signed
#      target while it is written; only an image that matched is set to boot;
#   3. the trial is recorded (sbd.boot.begin_firmware_trial) before set_boot,
#      which runs ESP-IDF's image check; the reboot that follows is the
#      caller's;
#   4. confirming (sbd.boot.confirm, mark_app_valid_cancel_rollback) happens
#      only on the trial boot itself, never between set_boot and the reset;
#      an image that is not confirmed is rolled back by the bootloader.
from micropython import const

from sbd import boot, ota

_SECTOR = const(4096)


class _Writer:
    """write(mv) at the next offset of a partition, erasing each sector
    the first time a write reaches it."""

    def __init__(self, part):
        self.part = part
        self.off = 0
        self.erased = 0  # sectors [0, erased) are erased

    def write(self, mv):
        n = len(mv)
        end = self.off + n
        while self.erased * _SECTOR < end:
            self.part.ioctl(6, self.erased)  # BP_IOCTL_SEC_ERASE
            self.erased += 1
        self.part.writeblocks(self.off // _SECTOR, mv, self.off % _SECTOR)
        self.off = end


def install(t, rel, fetcher):
    """Write firmware release `rel` (sbd.ota.release.Release with a
    firmware target) into the next app partition and set it to boot on
    trial.  The label of that partition; OtaError or boot.SlotError with
    the running image and its boot setting unchanged."""
    import esp32

    from sbd.ota import client
    from sbd.ota import download as dl
    from sbd.ota import release as rl

    if rel.firmware is None:
        raise ValueError("not a firmware release")
    fw = boot.read_firmware()
    if fw is not None and fw["trial"]:
        raise boot.SlotError("a firmware is on trial: confirm it or reset")
    _, floor = boot.installed()
    if fw is not None:
        rl.check_newer(rel, fw["release"], max(floor, fw["floor"]))
        if rel.number <= fw["failed"]:
            raise ota.Rollback("firmware release %d, failed release %d" % (rel.number, fw["failed"]))
    else:
        rl.check_newer(rel, 0, floor)
    length = t.target(rel.firmware)[0]
    nxt = esp32.Partition(esp32.Partition.RUNNING).get_next_update()
    info = nxt.info()
    if length > info[3]:
        raise ota.Refused("firmware: larger than the app partition")
    dl.to_sink(t, fetcher, rel.firmware, _Writer(nxt).write)
    boot.begin_firmware_trial(rel.number, info[4], rel.floor)
    try:
        nxt.set_boot()
    except OSError:
        boot.end_firmware_trial(boot.read_firmware(), False, True)
        e = ota.Malformed("firmware: ESP-IDF refused the image")
        client.emit_rejected(e)
        raise e
    boot.firmware_set()  # a cut before this: not a failed trial (see there)
    from sbd import events

    if events.listening:
        events.emit("ota.installed", release=rel.number, firmware=True)
    return info[4]
