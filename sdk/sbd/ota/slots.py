# sbd.ota.slots: installing a verified release into the A/B app slots that
# sbd.boot boots from (the slot layout, pointer and manifests are described
# there).  The install writes only into the slot that is not booted, and
# switches the pointer (one write_atomic) only after every file was checked.
from sbd import _fs, boot, ota
from sbd.boot import SlotError, read_pointer, write_pointer, installed, failed, slot_dir

__all__ = ("SlotError", "install")


def install(t, rel, fetcher):
    """Download release `rel` (sbd.ota.release.Release, checked by
    release.check_newer) into the slot not booted, check it, then switch
    the pointer to it on trial.  Raises OtaError (the running release and
    pointer stay) or SlotError."""
    from sbd.ota import download as dl
    from sbd.ota import release as rl
    import binascii
    import os

    if rel.firmware is not None:
        raise SlotError("a firmware release: sbd.ota.firmware.install writes it")
    p = read_pointer()
    if p is not None and not p["confirmed"]:
        raise SlotError("the running release is on trial: confirm or roll back first")
    cur, floor = installed()
    rl.check_newer(rel, cur, floor)
    bad = failed()
    if rel.number <= bad:
        # A release that never confirmed itself is never tried again, nor an
        # older one: only a newer release can fix it.
        raise ota.Rollback("release %d, failed release %d" % (rel.number, bad))
    slot = "b" if p is not None and p["slot"] == "a" else "a"
    if p is not None and p.get("prev") is not None:
        # The previous release lives in the slot about to be overwritten:
        # forget it first, so nothing can ever fall back into a half-written slot.
        p["prev"] = None
        write_pointer(p)
    _fs.makedirs(boot.APP_DIR)
    try:
        os.remove(boot.path(slot + ".manifest"))
    except OSError:
        pass
    # An install cut short (power, network) left the files it had in the
    # slot and a staging note naming release, slot and the release's exact
    # file set: the same install again keeps the release's own files and
    # fetches only what is missing (every byte is still hashed against the
    # signed targets), after deleting everything else in the slot (an
    # earlier attempt's, an app's).  Anything else empties the slot.
    stage = ("%d %s %s" % (rel.number, slot, _file_set(t, rel))).encode()
    resume = _staged() == stage
    if resume:
        want = set()
        for _, path in rel.files:
            boot.expect(want, path)
        boot.strays(slot, want, True)
        want = None
    else:
        _fs.remove_tree(slot_dir(slot))
        _fs.write_atomic(boot.path("staging"), stage)
    for target, path in rel.files:
        dest = slot_dir(slot) + "/" + path
        i = dest.rfind("/")
        _fs.makedirs(dest[:i])
        dl.download(t, fetcher, target, dest, resume)
    # The manifest, written line by line (one big string would need a
    # contiguous block as large as the manifest, three times), then renamed
    # into place as write_atomic does.
    man = boot.path(slot + ".manifest")
    with open(man + ".tmp", "wb") as f:
        for target, path in rel.files:
            length, sha, _ = t.target(target)
            f.write(b"%d %s %s\n" % (length, binascii.hexlify(sha), path.encode()))
    os.rename(man + ".tmp", man)
    # Loaded before the commit point: a MemoryError after it would tell the
    # caller the install failed when the new slot is already committed.
    from sbd import events

    new = {
        "slot": slot,
        "release": rel.number,
        "version": rel.version,
        "rfloor": rel.floor,
        "trial": boot.TRIAL_BOOTS,
        "confirmed": False,
        "floor": floor,
        "prev": None if p is None else boot.entry(p),
        "failed": bad,
    }
    write_pointer(new)  # the commit point
    try:
        os.remove(boot.path("staging"))
    except OSError:
        pass
    if events.listening:
        events.emit("ota.installed", release=rel.number)
    return slot


def _file_set(t, rel):
    # SHA-256 (hex) over the release's "<length> <sha256 hex> <path>" lines
    # in path order: the exact file set a staging note may be resumed for.
    import binascii
    import hashlib

    h = hashlib.sha256()
    for target, path in sorted(rel.files, key=_path):
        length, sha, _ = t.target(target)
        h.update(b"%d %s %s\n" % (length, binascii.hexlify(sha), path.encode()))
    return binascii.hexlify(h.digest()).decode()


def _path(f):
    return f[1]


def _staged():
    try:
        with open(boot.path("staging"), "rb") as f:
            return f.read(128)
    except OSError:
        return None
