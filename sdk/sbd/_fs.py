# sbd._fs: the two filesystem steps every sbd store takes (internal to the
# sbd package: identity, auth and later creds and ota use it).
#
# write_atomic: a temp file, then a rename over the target.  littlefs commits
# a rename in one metadata update and POSIX rename is atomic, so after a
# power cut at any instant the target holds the old bytes or the new ones,
# never a mix (tests/vboard/test_auth_powercut.py cuts at every flash write).
import os

# Where sbd keeps its files on a board.  A dot folder, not /sbd: every port
# puts "" (the root) first in sys.path, so a /sbd folder would shadow the SDK
# in /lib/sbd.  Module attributes, read at each use, so tests can move them.
FACTORY_DIR = "/.sbd/factory"  # the factory record: no user wipe touches it
STATE_DIR = "/.sbd/state"  # state bound to the device root key (auth, later ota and creds)


def makedirs(path):
    """mkdir -p for MicroPython (no os.makedirs there)."""
    cur = ""
    for part in path.split("/"):
        if not part:
            continue
        cur = cur + "/" + part if cur or path.startswith("/") else part
        try:
            os.mkdir(cur)
        except OSError:
            pass  # it exists; a real failure shows at the open() that follows


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def read_bounded(path, limit):
    """The file's bytes, at most limit + 1 of them (so a caller can tell
    "too large" without reading a huge file), or None when it is absent."""
    try:
        f = open(path, "rb")
    except OSError as e:
        if e.args[0] == 2:  # ENOENT
            return None
        raise
    with f:
        # MicroPython's read(n) allocates n bytes up front, however short
        # the file: ask for what the file holds (one byte more shows growth).
        size = f.seek(0, 2)
        f.seek(0)
        return f.read(min(size, limit) + 1)


def remove_tree(path):
    """Delete a folder and everything in it; absent is fine."""
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        p = path + "/" + name
        if os.stat(p)[0] & 0x4000:  # S_IFDIR
            remove_tree(p)
        else:
            os.remove(p)
    os.rmdir(path)
