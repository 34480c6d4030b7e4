# env_sensor's main.py: the boot stage, then the page on port 80 and the
# measuring.  sbd.boot picks the app release from the A/B slots (a new one
# on trial: env_sensor confirms it once it has answered a request and an
# update check has worked); with none installed
# yet, the factory copy in /lib runs.
from sbd import boot

boot.run("env_sensor")  # imports the slot's env_sensor when a release is installed
import env_sensor  # noqa: E402  -- the slot's, already imported, or the factory copy

env_sensor.main()
