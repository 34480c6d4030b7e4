# One distribution carries the host tools (sbdtools), the device SDK sources
# (sbd: imported on the host through the shims, copied to boards by
# `sbd deploy`), the board configs and the examples.  The packages are found
# here rather than listed by hand so a new subpackage can never be left out.
from setuptools import find_packages, setup

packages = find_packages("host_tools") + find_packages("sdk")
setup(
    packages=[*packages, "sbdtools.board_configs", "sbdtools.examples"],
    package_dir={
        "sbdtools": "host_tools/sbdtools",
        "sbd": "sdk/sbd",
        "sbdtools.board_configs": "board_configs",
        "sbdtools.examples": "examples",
    },
)
