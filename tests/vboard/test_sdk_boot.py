"""sbd.boot on a virtual board: the boot stage finishes a user data wipe
that a power cut interrupted before any app code runs."""

from __future__ import annotations

from harness.vboards import SdkBoard

PASSWORD = "Q4mz-Hr7k-Wd9p-Lx3t"

USER_DATA = """
import os
for d in ('/data', '/.sbd/settings'):
    os.mkdir(d)
for p in ('/data/a.txt', '/.sbd/settings/tz'):
    with open(p, 'w') as f:
        f.write('personal ' * 30)
"""

WIPE = """
import vboard
vboard.cut_after(%d)
from sbd import privacy
privacy.wipe_user_data(confirm=privacy.wipe_token())
"""

STATE = """
import os
from sbd import privacy
def there(p):
    try:
        os.stat(p)
        return 1
    except OSError:
        return 0
print('STATE', int(privacy.pending()), there('/data/a.txt'), there('/.sbd/settings/tz'))
"""

# main.py of a board: the boot stage first (no app installed: safe mode).
MAIN = (
    """
from sbd import boot, events
seen = []
events.subscribe(lambda n, f: seen.append(n))
print('SLOT', boot.run())
print('EVENTS', ' '.join(seen))
"""
    + STATE
)


def _state(out: str) -> str:
    return next(ln for ln in out.splitlines() if ln.startswith("STATE "))


def test_boot_finishes_an_interrupted_wipe_before_the_app(sdk_board: SdkBoard) -> None:
    board = sdk_board
    board.provision(PASSWORD)
    board.exec(USER_DATA)
    start = board.snapshot("data")
    # The first cut that leaves the intent marker on flash with data left.
    for n in range(1, 40):
        board.restore(start)
        board.boot(WIPE % n)
        if _state(board.exec(STATE).output) in ("STATE 1 1 1", "STATE 1 0 1", "STATE 1 1 0"):
            break
    else:
        raise AssertionError("no cut left a wipe half done")
    out = board.exec(MAIN).output
    assert "SLOT None" in out, out
    assert "privacy.wipe_resumed" in out and "privacy.wiped" in out, out
    assert "STATE 0 0 0" in out, out
    # And a boot with nothing pending does nothing.
    out = board.exec(MAIN).output
    assert "wipe_resumed" not in out and "STATE 0 0 0" in out, out
