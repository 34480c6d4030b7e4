# Board manifest for the production firmware.
include("$(PORT_DIR)/boards/manifest.py")  # noqa: F821
require("webrepl")  # noqa: F821
freeze("modules")  # noqa: F821
