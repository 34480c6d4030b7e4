"""pytest plugin: run device tests on real MicroPython and on CPython.

A folder that holds ``dtest.py`` is a device-test folder.  Each ``test_*.py``
in it is collected by this plugin instead of pytest's Python collector: every
``test_*`` function becomes two items, ``name[micropython]`` and
``name[cpython]``.  The first item of a module on a runtime runs the whole
module in one interpreter process (MicroPython starts in tens of ms, so one
process per test would dominate the suite), through ``devrunner.py``:

* micropython: the sdk and the test folder are compiled with mpy-cross and run
  as .mpy under ``-X heapsize`` (64K unless the module says otherwise);
* cpython: the same source modules, with the host shims installed.

A test passes only when the runner printed PASS for it.  A failure, a crash
(the interpreter dies), a hang (timeout) or a silent exit (no DONE line)
leaves the test without PASS and fails it, naming runtime and test.

Module options, in a comment line:  ``# sbd-device: heapsize=96K timeout=60``
(also ``runtimes=micropython`` to restrict, with a reason in the module).
"""

from __future__ import annotations

import ast
import os
import re
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness import tools

RUNTIMES = ("micropython", "cpython")
DEFAULT_HEAP = "64K"
DEFAULT_TIMEOUT = 120.0
_TAG = "@@SBDTEST-"
_OPT_RE = re.compile(r"^#\s*sbd-device:\s*(.*)$", re.M)
_MAX_OUTPUT = 2_000_000  # bytes of output kept from one module run


@dataclass
class ModuleOptions:
    heapsize: str = DEFAULT_HEAP
    timeout: float = DEFAULT_TIMEOUT
    runtimes: tuple[str, ...] = RUNTIMES


def parse_options(source: str, where: str) -> ModuleOptions:
    opts = ModuleOptions()
    for m in _OPT_RE.finditer(source):
        for item in m.group(1).split():
            key, _, val = item.partition("=")
            if key == "heapsize" and re.fullmatch(r"\d+[KM]?", val):
                opts.heapsize = val
            elif key == "timeout" and re.fullmatch(r"\d+(\.\d+)?", val):
                opts.timeout = float(val)
            elif key == "runtimes" and val and set(val.split(",")) <= set(RUNTIMES):
                opts.runtimes = tuple(val.split(","))
            else:
                raise pytest.UsageError(f"{where}: bad sbd-device option {item!r}")
    return opts


@dataclass
class RunResult:
    """What one runner process reported for one module on one runtime."""

    status: dict[str, str] = field(default_factory=dict)  # test -> PASS/FAIL/START
    names: list[str] | None = None  # the test_* names the runner found in the module
    detail: dict[str, str] = field(default_factory=dict)  # test -> traceback
    done: bool = False
    output: str = ""
    problem: str = ""  # why the run ended badly (timeout, crash, exit code)


def parse_output(text: str, nonce: str) -> RunResult:
    res = RunResult(output=text)
    current_fail: str | None = None
    buf: list[str] = []
    tag = _TAG + nonce + " "
    for line in text.splitlines():
        if line.startswith(tag):
            parts = line[len(tag) :].split()
            if not parts:
                continue
            kind, arg = parts[0], (parts[1] if len(parts) > 1 else "")
            if kind == "NAMES":
                res.names = parts[1:]
            elif kind == "START":
                res.status[arg] = "START"
            elif kind == "PASS":
                res.status[arg] = "PASS"
            elif kind == "FAIL":
                res.status[arg] = "FAIL"
                current_fail, buf = arg, []
            elif kind == "ENDFAIL" and current_fail:
                res.detail[current_fail] = "\n".join(buf)
                current_fail = None
            elif kind == "DONE":
                res.done = True
        elif current_fail is not None:
            buf.append(line)
    return res


class _Build:
    """The .mpy build of the sdk and of one test folder, made once per session."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sbd-mpy-", dir="/tmp"))
        self._done: dict[Path, tuple[Path, list[str]]] = {}

    def for_folder(self, folder: Path, sdk: Path) -> tuple[Path, list[str]]:
        if folder not in self._done:
            dest = self.root / str(len(self._done))
            errors = tools.compile_tree(sdk, dest) + tools.compile_tree(folder, dest)
            self._done[folder] = (dest, errors)
        return self._done[folder]


_build: _Build | None = None
_results: dict[tuple[str, str], RunResult] = {}


def _env(folder: Path, scratch: Path) -> dict[str, str]:
    # The device sees the same short paths whatever the checkout's location:
    # path strings land on a 64 KiB heap, and a different length shifts its
    # layout enough to turn a near-fragmentation test into a flaky one.
    (scratch / "d").symlink_to(folder / "data")
    (scratch / "v").symlink_to(tools.vectors_dir())
    env = dict(os.environ)
    env["SBD_TEST_DATA"] = str(scratch / "d")
    env["SBD_VECTORS"] = str(scratch / "v")
    env["SBD_SCRATCH"] = str(scratch / "s")
    (scratch / "s").mkdir()
    return env


def run_module(path: Path, runtime: str, opts: ModuleOptions) -> RunResult:
    global _build
    key = (str(path), runtime)
    if key in _results:
        return _results[key]
    folder = path.parent
    sdk = Path(os.environ.get("SBD_SDK_DIR", tools.SDK_DIR))
    scratch = Path(tempfile.mkdtemp(prefix="sbd-scratch-", dir="/tmp"))
    env = _env(folder, scratch)
    nonce = secrets.token_hex(8)
    env["SBD_TEST_NONCE"] = nonce
    if runtime == "micropython":
        if _build is None:
            _build = _Build()
        build_dir, errors = _build.for_folder(folder, sdk)
        if errors:
            res = RunResult(problem="mpy-cross could not compile:\n" + "\n".join(errors))
            _results[key] = res
            return res
        env["MICROPYPATH"] = str(build_dir)
        cmd = [tools.micropython(), "-X", f"heapsize={opts.heapsize}", str(tools.RUNNER), path.stem]
    else:
        env["PYTHONPATH"] = os.pathsep.join([str(folder), str(sdk), str(tools.REPO / "host_tools")])
        cmd = [sys.executable, str(tools.RUNNER), path.stem]
    try:
        proc = subprocess.run(
            cmd,
            cwd=scratch,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=opts.timeout,
        )
        out = proc.stdout[-_MAX_OUTPUT:].decode("utf-8", "replace")
        res = parse_output(out, nonce)
        if proc.returncode != 0:
            res.problem = f"the {runtime} process exited with status {proc.returncode}"
        elif not res.done:
            res.problem = f"the {runtime} process exited before the runner finished (no DONE line)"
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"")[-_MAX_OUTPUT:].decode("utf-8", "replace")
        res = parse_output(out, nonce)
        res.problem = f"timed out after {opts.timeout:g} s (hang?)"
        res.done = False
    _results[key] = res
    return res


class DeviceTestFailure(Exception):
    pass


class DeviceItem(pytest.Item):
    def __init__(self, *, test: str, runtime: str, opts: ModuleOptions, **kw: Any) -> None:
        super().__init__(**kw)
        self.test = test
        self.runtime = runtime
        self.opts = opts
        self.user_properties.append(("runtime", runtime))

    def runtest(self) -> None:
        res = run_module(self.path, self.runtime, self.opts)
        status = res.status.get(self.test)
        label = f"[{self.runtime}] {self.path.stem}::{self.test}"
        collected = self.parent.iter_tests()  # type: ignore[attr-defined]
        if res.names is not None and sorted(res.names) != collected:
            # Tests defined at run time, or hidden in an `if`: pytest would not
            # see their results, so the module as a whole fails.
            raise DeviceTestFailure(
                f"{label}: the module defines tests {sorted(res.names)} at run time but pytest collected "
                f"{collected}; define every test_* as a plain top-level function"
            )
        if status == "PASS" and not res.problem:
            return
        if status == "PASS":
            # It passed, but the run it belongs to did not end cleanly (a hang
            # after it, a crash, a bad exit status): nothing of that run counts.
            raise DeviceTestFailure(f"{label} reported PASS but its run failed: {res.problem}")
        if status == "FAIL":
            raise DeviceTestFailure(f"{label} failed:\n{res.detail.get(self.test, '')}")
        tail = "\n".join(res.output.splitlines()[-40:])
        why = res.problem or "no result reported"
        if status == "START":
            raise DeviceTestFailure(f"{label} started but never finished: {why}\n--- output tail ---\n{tail}")
        raise DeviceTestFailure(f"{label} did not run: {why}\n--- output tail ---\n{tail}")

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        if isinstance(excinfo.value, DeviceTestFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.path.stem}::{self.test}[{self.runtime}]"


class DeviceModule(pytest.File):
    def collect(self) -> Any:
        source = self.path.read_text(encoding="utf-8")
        opts = parse_options(source, str(self.path))
        tree = ast.parse(source, filename=str(self.path))
        defs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
        dups = sorted({n for n in defs if defs.count(n) > 1})
        if dups:
            raise pytest.UsageError(f"{self.path}: test defined twice (the first would never run): {', '.join(dups)}")
        names = sorted(defs)
        self._tests = names
        for runtime in opts.runtimes:
            for name in names:
                item = DeviceItem.from_parent(self, name=f"{name}[{runtime}]", test=name, runtime=runtime, opts=opts)
                # One xdist worker runs all of a module's items: the module
                # then runs once per runtime, not once per worker.
                item.add_marker(pytest.mark.xdist_group(self.path.stem))
                yield item

    def iter_tests(self) -> list[str]:
        return self._tests


def is_device_test(path: Path) -> bool:
    return path.name.startswith("test_") and path.suffix == ".py" and (path.parent / "dtest.py").exists()


def pytest_pycollect_makemodule(module_path: Path, parent: Any) -> Any:
    if is_device_test(module_path):
        return DeviceModule.from_parent(parent, path=module_path)
    return None


_counts: dict[str, dict[str, int]] = {}


def pytest_runtest_logreport(report: Any) -> None:
    runtime = dict(report.user_properties).get("runtime")
    if runtime is None or (report.when != "call" and not (report.when == "setup" and report.outcome != "passed")):
        return
    c = _counts.setdefault(runtime, {"passed": 0, "failed": 0, "skipped": 0})
    c[report.outcome] = c.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _counts:
        return
    terminalreporter.section("device tests per runtime")
    for runtime in RUNTIMES:
        c = _counts.get(runtime)
        if c:
            terminalreporter.write_line(
                f"{runtime}: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped"
            )
