# The minimal sbd example: says who the board is and that its storage works.
# Runs on a real board and on the virtual board alike.
import gc
import os

import machine

import sbd
from sbd import identity

_BOOTS = "boots.txt"


def boots():
    # A tiny persistent counter: shows the filesystem survives power-off.
    try:
        with open(_BOOTS) as f:
            n = int(f.read() or "0")
    except (OSError, ValueError):
        n = 0
    n += 1
    with open(_BOOTS, "w") as f:
        f.write(str(n))
    return n


def main():
    uid = machine.unique_id()
    st = os.statvfs("/")
    gc.collect()
    print("sbd", sbd.__version__, "minimal example")
    print("unique id:   ", "".join("%02x" % b for b in uid))
    print("reset cause: ", machine.reset_cause())
    print("boot count:  ", boots())
    try:
        me = identity.load()
        print("serial:      ", me.serial, "(" + me.model + ", security updates until " + me.support_end + ")")
    except identity.IdentityError as e:
        # No factory record: an app would refuse to start its network services here.
        print("identity:    ", e)
    print("filesystem:  ", st[0] * st[3] // 1024, "KiB free of", st[0] * st[2] // 1024, "KiB")
    print("heap free:   ", gc.mem_free(), "bytes")


main()
