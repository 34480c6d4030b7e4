"""Private Mosquitto brokers for tests: each test starts its own
`mosquitto -c` on a free 127.0.0.1 port with its own configuration
(password_file, acl_file, TLS listener), stops it when done, and can stop
and restart it to play a broker outage.  A missing mosquitto binary skips,
or fails with SBD_REQUIRE_SERVICES=1 (CI installs it)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HOST = "127.0.0.1"


def mosquitto_bin() -> str:
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if found is None:
        msg = "mosquitto is not installed (apt-get install mosquitto, or run .ci/run)"
        if os.environ.get("SBD_REQUIRE_SERVICES") == "1":
            pytest.fail(f"SBD_REQUIRE_SERVICES=1 but {msg}")
        pytest.skip(msg)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Broker:
    """One mosquitto process; `conf` lines go after the listener line."""

    def __init__(self, folder: Path, conf: list[str], port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.conf_path = folder / f"mosquitto-{self.port}.conf"
        self.log = folder / f"mosquitto-{self.port}.log"
        # As root mosquitto drops to user "mosquitto", who cannot read the
        # test's private folder: stay the user running the tests.
        me = pwd.getpwuid(os.getuid()).pw_name
        self.conf_path.write_text("\n".join([f"user {me}", f"listener {self.port} {HOST}", *conf, ""]))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        log = open(self.log, "ab")
        self.proc = subprocess.Popen([mosquitto_bin(), "-c", str(self.conf_path)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not come up")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[object]:
    made: list[Broker] = []

    def make(conf: list[str], port: int | None = None) -> Broker:
        b = Broker(tmp_path, conf, port)
        made.append(b)
        return b.start()

    yield make
    for b in made:
        b.stop()
