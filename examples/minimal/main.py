# The minimal example's main.py: the boot stage.  sbd.boot picks the app
# release to run from the A/B slots (a new release on trial, rolled back by
# itself if it never confirms); with none installed yet, or when no slot
# checks out (safe mode), the factory copy in /lib runs, which can still
# fetch an update.
from sbd import boot

slot = boot.run("app")  # imports the slot's app (its lib/app.mpy) when there is one
import app  # noqa: E402  -- the slot's, already imported, or the factory copy

app.main(slot)
