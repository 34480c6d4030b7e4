# Root conftest: makes tests/ importable (the `harness` package) and loads
# the two-runtime device-test plugin and the virtual-board fixtures
# (harness/vboards.py) for every test folder.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests"))

pytest_plugins = ["harness.plugin", "harness.services", "harness.vboards", "pytester"]
