"""The broker's files, filled in by the factory station (`sbd provision
--broker-creds DIR`).

Each board draws its own MQTT secret, keeps it in its credential store and
hands the station only mosquitto's hash of it: one `password_file` line
(`serial:$7$...`, sbd.net.broker on the device).  This module checks that
line and puts it in `DIR/passwd`, replacing an older line of the same serial
(a re-provisioned board has a new secret), and makes `DIR/acl` once: every
device may write only under `sbd/<its user name>/`, the listener reads all
(a board may not use the listener's account name as its serial).
Nothing here ever holds a plaintext secret.

Several station threads (a batch) and processes (two stations on one share)
may add lines at once: a lock file serializes them, and the passwd file is
replaced atomically, so a broker reloading it sees the old or the new file.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
from pathlib import Path

from . import telemetry as tm
from .errors import SbdError
from .fileio import write_atomic

PASSWD = "passwd"  # noqa: S105  (a file name, not a password)
ACL = "acl"
LISTENER = "listener"
_LOCK = ".sbd-broker.lock"
# user:$7$iterations$base64(12-byte salt)$base64(64-byte PBKDF2-HMAC-SHA512)
_LINE = re.compile(r"([^:\s]+):\$7\$(\d{1,7})\$([A-Za-z0-9+/]{16})\$([A-Za-z0-9+/]{86}==)")
_MIN_ITERATIONS = tm.MOSQ_ITERATIONS
_thread_lock = threading.Lock()


def check_line(serial: str, line: str) -> str:
    """The line if it is a well-formed $7$ line for `serial`; SbdError otherwise."""
    if serial.casefold() == LISTENER:
        # The listener's account reads every device's topic: a board named
        # after it would replace its line (or share its name) in passwd.
        raise SbdError(f"{LISTENER!r} is the listener's account, not a board serial")
    m = _LINE.fullmatch(line)
    if m is None or m.group(1) != tm.check_serial(serial):
        raise SbdError(f"{serial}: the board's broker line is not a mosquitto $7$ line for its serial")
    if int(m.group(2)) < _MIN_ITERATIONS:
        raise SbdError(f"{serial}: the board's broker line has fewer than {_MIN_ITERATIONS} iterations")
    return line


def add_device(folder: Path, serial: str, line: str) -> None:
    """Put `serial`'s line in folder/passwd (replacing an older one) and make
    folder/acl if it is missing."""
    check_line(serial, line)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SbdError(f"{folder}: cannot create the broker folder: {e.strerror}") from None
    with _thread_lock, open(folder / _LOCK, "a") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        passwd = folder / PASSWD
        try:
            old = passwd.read_text().splitlines()
        except FileNotFoundError:
            old = []
        keep = [ln for ln in old if ln.partition(":")[0] != serial]
        write_atomic(passwd, "".join(ln + "\n" for ln in [*keep, line]).encode())
        acl = folder / ACL
        if not acl.exists():
            write_atomic(acl, tm.acl_text([LISTENER]).encode())
            os.chmod(acl, 0o644)


def has_device(folder: Path, serial: str) -> bool:
    try:
        return any(ln.partition(":")[0] == serial for ln in (folder / PASSWD).read_text().splitlines())
    except FileNotFoundError:
        return False
