"""sbdtools.brokerfiles refuses a board serial that is the listener's account
(the reviewed collision: a board "listener" would replace the listener's
line in passwd and read every device's topic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sbdtools import brokerfiles
from sbdtools import telemetry as ht
from sbdtools.errors import SbdError


@pytest.mark.parametrize("serial", ["listener", "Listener", "LISTENER"])
def test_the_listener_account_is_not_a_board_serial(tmp_path: Path, serial: str) -> None:
    line = ht.passwd_line(serial, "s")
    with pytest.raises(SbdError, match="listener's account"):
        brokerfiles.check_line(serial, line)
    with pytest.raises(SbdError, match="listener's account"):
        brokerfiles.add_device(tmp_path, serial, line)
    assert not (tmp_path / brokerfiles.PASSWD).exists()


def test_an_ordinary_serial_is_added(tmp_path: Path) -> None:
    brokerfiles.add_device(tmp_path, "listener-2", ht.passwd_line("listener-2", "s"))
    assert brokerfiles.has_device(tmp_path, "listener-2")
