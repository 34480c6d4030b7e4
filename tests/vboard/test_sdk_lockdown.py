"""The lock-down profile on a virtual board: in production an app error
resets the board (no REPL fallback, no traceback, the error's message never
printed); in development the same error ends in the usual traceback."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.vboards import SdkBoard
from sbdtools.vboard import runner

MAIN = """
from sbd import lockdown

def main():
    print("app started")
    raise ValueError("secret-value-%d" % 42)

lockdown.run(main)
print("after the app")
"""


def _boot_py(mode: str) -> str:
    return f"from sbd import lockdown\nlockdown.apply(lockdown.{mode})\n"


@pytest.mark.parametrize("family", ["pico_w", "esp32"])
def test_production_app_error_resets_without_repl(make_sdk_board: Callable[..., SdkBoard], family: str) -> None:
    b = make_sdk_board(family, name=f"lock-{family}", files={"boot.py": _boot_py("PRODUCTION"), "main.py": MAIN})
    res = b.boot()
    assert "app started" in res.output
    assert res.ended == runner.HARD_RESET_REQ, res.output
    assert "Traceback" not in res.output and "secret-value" not in res.output and "after the app" not in res.output
    assert not res.uncaught


def test_status_on_a_virtual_esp32_says_the_debug_log_is_on(make_sdk_board: Callable[..., SdkBoard]) -> None:
    # The virtual ESP32 has no esp module: the profile cannot turn the IDF
    # log off there, and says so instead of claiming a locked-down board.
    b = make_sdk_board("esp32", name="lock-esp-st")
    res = b.exec("from sbd import lockdown\nlockdown.apply(lockdown.PRODUCTION)\nprint('ST', lockdown.status())")
    assert "ESP32 debug log still on" in res.output


def test_development_app_error_shows_the_traceback(make_sdk_board: Callable[..., SdkBoard]) -> None:
    b = make_sdk_board(name="lock-dev", files={"boot.py": _boot_py("DEVELOPMENT"), "main.py": MAIN})
    res = b.boot()
    assert res.ended != runner.HARD_RESET_REQ
    assert "Traceback" in res.output and "secret-value-42" in res.output


def test_status_reports_webrepl_password_and_profile(make_sdk_board: Callable[..., SdkBoard]) -> None:
    b = make_sdk_board(name="lock-st", files={"webrepl_cfg.py": "PASS = 'shared'\n"})
    res = b.exec("from sbd import lockdown\nprint('ST', lockdown.status())")
    assert "production profile not applied" in res.output and "webrepl_cfg.py present" in res.output
    assert "shared" not in res.output
    res = b.exec(
        "import os\nos.remove('webrepl_cfg.py')\nfrom sbd import lockdown\n"
        "lockdown.apply(lockdown.PRODUCTION)\nprint('ST', lockdown.status())"
    )
    assert "ST []" in res.output
