include("$(PORT_DIR)/boards/manifest.py")  # noqa: F821
require("umqtt.simple")  # noqa: F821
freeze("modules")  # noqa: F821
