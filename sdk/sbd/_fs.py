# sbd._fs: the two filesystem steps every sbd store takes (internal to the
# sbd package: identity, auth and later creds and ota use it).
#
# write_atomic: a temp file, then a rename over the target.  littlefs commits
# a rename in one metadata update and POSIX rename is atomic, so after a
# power cut at any instant the target holds the old bytes or the new ones,
# never a mix (tests/vboard/test_auth_powercut.py cuts at every flash write).
import os


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
        return f.read(limit + 1)
