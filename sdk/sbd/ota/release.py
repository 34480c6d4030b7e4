# sbd.ota.release: sbd's own checks on top of TUF.  TUF says a target is
# what the repository signed; these say whether this device may install it.
#
# Every target of an sbd release carries, in its signed `custom` value,
#   {"sbd": {"product": "acme-sensor", "boards": ["pico_w"], "release": 7,
#            "version": "1.7.0", "floor": 3}}
# and lives at <product>/<board>/<release>/<path in the app>.  "kind":
# "firmware" (default "app") marks an ESP32 app image for the next app
# partition (sbd.ota.firmware) instead of a file of the app slot.  A release is
# the set of targets with one release number: files are never picked from two
# releases (mix-and-match), all must agree on version and floor, and every
# path must stay inside the app slot.  The release number only goes up, and
# never below the security floor the device stored (anti-rollback: a release
# sets the floor for everything after it).
from sbd import ota
from sbd import validate as v

MAX_RELEASE = 0x7FFFFFFF


def _schema():
    return v.obj(
        {
            "product": v.text(1, 64, chars="A-Za-z0-9_.-"),
            "boards": v.list_of(v.text(1, 32, chars="A-Za-z0-9_.-"), 1, 16),
            "release": v.integer(1, MAX_RELEASE),
            "version": v.text(1, 32, chars=v.PRINTABLE),
            "floor": v.integer(0, MAX_RELEASE),
            "kind": v.one_of("app", "firmware", default="app"),
        }
    )


def app_path(rel):
    """A path inside the app slot: relative, no '.', '..' or hidden parts."""
    if not ota.check_path(rel):
        return False
    for part in rel.split("/"):
        if part[0] == ".":
            return False
    return True


class Release:
    def __init__(self, number, version, floor, files, firmware=None):
        self.number = number
        self.version = version
        self.floor = floor
        self.files = files  # [(target path, path in the slot)], sorted
        self.firmware = firmware  # target path of an ESP32 app image, or None

    def __repr__(self):
        return "<Release %d %s>" % (self.number, self.version)


def _info(t, path):
    c = t.targets["targets"][path].get("custom")
    if c is None or "sbd" not in c:
        return None
    try:
        return v.validate(c["sbd"], _schema(), "targets.custom.sbd")
    except v.ValidationError as e:
        raise ota.Malformed(str(e))


def newest(t, product, board):
    """The highest release number signed for product and board, or 0."""
    best = 0
    for path in t.targets["targets"]:
        info = _info(t, path)
        if info is not None and info["product"] == product and board in info["boards"]:
            if info["release"] > best:
                best = info["release"]
    return best


def release(t, product, board, number):
    """The files of release `number` for this device, checked; Refused when
    the release is not for this product or board, NotFound when absent."""
    prefix = "%s/%s/%d/" % (product, board, number)
    files = []
    firmware = None
    version = floor = None
    other = False
    for path in t.targets["targets"]:
        info = _info(t, path)
        if info is None or info["release"] != number:
            continue
        if info["product"] != product or board not in info["boards"]:
            other = True
            continue
        # The whole target path too, not only its part in the app: it is
        # what the fetcher asks the server for (a product "..").
        if not path.startswith(prefix) or not ota.check_path(path) or not app_path(path[len(prefix) :]):
            raise ota.Refused("release %d: a path outside the app" % number)
        if version is None:
            version, floor = info["version"], info["floor"]
        elif info["version"] != version or info["floor"] != floor:
            raise ota.Malformed("release %d: files disagree on version or floor" % number)
        if info["kind"] == "firmware":
            if firmware is not None:
                raise ota.Malformed("release %d: two firmware images" % number)
            firmware = path
        else:
            files.append((path, path[len(prefix) :]))
    if firmware is not None and files:
        # One commit point per release: a firmware image or app files.
        raise ota.Refused("release %d: firmware and app files together" % number)
    if not files and firmware is None:
        if other:
            raise ota.Refused("release %d: not for this product and board" % number)
        raise ota.NotFound("release %d: not signed" % number)
    if floor > number:
        raise ota.Malformed("release %d: floor %d above it" % (number, floor))
    files.sort()
    return Release(number, version, floor, files, firmware)


def check_newer(rel, installed, floor):
    """Anti-rollback: rel must be newer than the installed release and not
    below the stored security floor."""
    if rel.number < floor:
        raise ota.Rollback("release %d below the security floor %d" % (rel.number, floor))
    if rel.number <= installed:
        raise ota.Rollback("release %d, installed %d" % (rel.number, installed))
