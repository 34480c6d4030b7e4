"""The SDK's heap needs with the SDK frozen into the firmware, against .mpy.

    .venv/bin/python bench/heap_frozen.py PATH/TO/FROZEN/micropython [--only a,b,c]

PATH is a unix-port `micropython` built with the sbd SDK (sdk/manifest.py) and
env_sensor's modules frozen in (bench/results/heap-frozen.md says how).  Without
it the script says so and exits 0 (it is not part of `make test` or `make bench`).

For each step, the smallest `-X heapsize` N (1 KiB steps, scanned down from a
top) such that every heap from N to the top runs the step: fragmentation makes
pass/fail non-monotonic, so no bisection.  Each step runs in up to four ways:
  frozen        the frozen binary, the SDK from its frozen modules (flash);
  .mpy          the same binary, the SDK as .mpy ahead of the frozen copy on the
                path (its names are still interned in the firmware: no qstr on the heap);
  .mpy (plain)  with --plain PATH: the same port and options built without the
                SDK frozen, the SDK as .mpy (the clean comparison);
  .mpy (pip)    the `micropython` the tests use, the SDK as .mpy (today's figures).
Steps:
  a  tests/device/test_ota_heap.py's update path (TUF refresh + install of a
     2-target release), run by the harness's devrunner exactly as `make test` does;
  b  bench/bench_heap.py's "a boot" step (identity.load(), auth.check(),
     creds.set() + get()) on a provisioned board;
  c  examples/env_sensor's page flow on the plain unix port (the harness's
     page-flow test: login, a settings change, a validation error, an oversized
     header, readings), once without a broker and once with one configured
     (sbd.telemetry and sbd.net.mqtt loaded; the broker is unreachable).
Writes nothing; prints a table.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import os
import re
import secrets
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "host_tools"), str(ROOT / "bench"), str(ROOT / "tests")]

from bench_heap import _HEAD, _TAIL, ITERATIONS, OPERATIONS, PROVISION  # noqa: E402

from sbdtools import deploy  # noqa: E402
from sbdtools.commands.demo import SERVE_ENV_SENSOR, free_port, login_token  # noqa: E402
from sbdtools.mpytools import interpreter_mpy, require_tool  # noqa: E402

PASSWORD = "k7mp2-xv9ad-3hrte-nq4fw"  # bench_heap's PROVISION
UPDATE_TEST = "test_refresh_then_install_fit_and_the_crypto_code_is_dropped"
BOOT_STEP = "a boot: identity, auth.check(), creds"
EXAMPLE = ROOT / "examples" / "env_sensor"

# The page flow's board side: bench_heap's head (fake machine, store folders in
# the run's copy of a provisioned board), privacy's folders there too, then
# what the virtual-board test runs in place of main.py.
PAGE = (
    _HEAD
    + """
from sbd import privacy
privacy.SETTINGS_DIR = %(dir)r + "/settings"
privacy.DATA_DIR = %(dir)r + "/data"
"""
    + SERVE_ENV_SENSOR.replace("{port}", "%(port)d").replace("{control}", "%(control)d")
)


class OutOfHeap(Exception):
    pass


class Setup:
    """The .mpy files for one native architecture (-march: x64, or x86 for a
    32-bit build), and the provisioned board every run copies."""

    def __init__(self, tmp: Path, arch: str | None, board: Path) -> None:
        self.tmp = tmp
        self.t = tmp / "t"  # tests, harness runner, fakeboard, scripts (.mpy)
        self.sdk = tmp / "sdk"  # the SDK and env_sensor as .mpy
        self.arch = arch
        sdk = deploy.sdk_dir().parent
        for py in sorted((sdk / "sbd").rglob("*.py")):
            rel = py.relative_to(sdk)
            self.compile(py, self.sdk / rel.with_suffix(".mpy"), str(rel))
        for py in (EXAMPLE / "env_sensor.py", EXAMPLE / "uplink.py"):
            self.compile(py, self.sdk / (py.stem + ".mpy"), py.name)
        for py in sorted((ROOT / "tests" / "device").glob("*.py")):
            self.compile(py, self.t / (py.stem + ".mpy"), py.name)
        self.compile(ROOT / "tests" / "harness" / "devrunner.py", self.t / "devrunner.mpy", "devrunner.py")
        self.board = board
        self.n = 0

    def compile(self, src: Path, out: Path, name: str) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        deploy.compile_file(src, out, arch=self.arch, source_name=name)

    def script(self, text: str) -> str:
        self.n += 1
        name = f"heap_frozen_{self.n}"
        src = self.tmp / f"{name}.py"
        src.write_text(text)
        self.compile(src, self.t / f"{name}.mpy", src.name)
        return name


def _check(out: str, what: str) -> None:
    """A failed run: out of heap (OutOfHeap) or something else (RuntimeError)."""
    if "MemoryError" in out or "memory allocation failed" in out:
        raise OutOfHeap(what)
    raise RuntimeError(f"{what} failed, not for lack of heap:\n{out[-3000:]}")


def run_update(mp: str, path: str, s: Setup, heap: int) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="sbd-hf-", dir="/tmp"))
    try:
        (scratch / "d").symlink_to(ROOT / "tests" / "device" / "data")
        (scratch / "s").mkdir()
        nonce = secrets.token_hex(8)
        env = dict(os.environ, MICROPYPATH=path, SBD_TEST_DATA=str(scratch / "d"), SBD_SCRATCH=str(scratch / "s"))
        env["SBD_TEST_NONCE"] = nonce
        r = subprocess.run(
            [
                mp,
                "-X",
                f"heapsize={heap}K",
                "-c",
                "import sys; sys.argv[1:] = %r; import devrunner" % ["test_ota_heap", UPDATE_TEST],
            ],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if f"@@SBDTEST-{nonce} PASS {UPDATE_TEST}" not in r.stdout:
        _check(r.stdout + r.stderr, f"the update path at {heap}K")


def run_boot(mp: str, path: str, s: Setup, heap: int) -> None:
    work = s.tmp / "w"
    shutil.copytree(s.board, work)
    try:
        mod = s.script((_HEAD + OPERATIONS[BOOT_STEP] + _TAIL) % {"dir": str(work)})
        r = subprocess.run(
            [mp, "-X", f"heapsize={heap}K", "-c", f"import {mod}"],
            env=dict(os.environ, MICROPYPATH=path),
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        shutil.rmtree(work)
    if "RESULT " not in r.stdout:
        _check(r.stdout + r.stderr, f"the boot step at {heap}K")


def _request(
    port: int, method: str, target: str, form: dict[str, str] | None = None, cookie: str | None = None
) -> tuple[int, str, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {}
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if cookie is not None:
        headers["Cookie"] = cookie
    c.request(method, target, body=data, headers=headers)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, r.getheader("Set-Cookie") or "", body


def _flow(port: int, broker: bool) -> str:
    """The page-flow test's requests; '' when each answered as it should."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/")
    r = c.getresponse()
    r.body = r.read()  # type: ignore[attr-defined]
    c.close()
    if r.status != 200:
        return f"GET / {r.status}"
    token, lt = login_token(r)
    st, cookie, _ = _request(port, "POST", "/login", {"csrf": token, "password": PASSWORD}, cookie=lt)
    sid = re.search(r"sid=([0-9a-f]{32});", cookie)
    if st != 303 or not sid:
        return f"login {st}"
    st, _, page = _request(port, "GET", "/", cookie=f"sid={sid.group(1)}")
    csrf = re.search(rb"name=csrf value=([0-9a-f]{32})", page)
    if st != 200 or not csrf:
        return f"GET / after login {st}"
    form = {
        "csrf": csrf.group(1).decode(),
        "ssid": "n",
        "wifi_pass": "wifi-secret-1",
        "mqtt_host": "h" if broker else "",
        "mqtt_port": "1",
        "interval": "9",
    }
    if (st := _request(port, "POST", "/settings", form, cookie=f"sid={sid.group(1)}")[0]) != 303:
        return f"settings {st}"
    if (st := _request(port, "POST", "/settings", {**form, "mqtt_port": "0"}, cookie=f"sid={sid.group(1)}")[0]) != 400:
        return f"bad settings {st}"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as so:
        so.sendall(b"GET / HTTP/1.1\r\nX: " + b"a" * 3000 + b"\r\n\r\n")
        try:
            so.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        got = b""
        try:
            while chunk := so.recv(4096):
                got += chunk
        except OSError:
            pass
    if not got.startswith(b"HTTP/1.1 431 "):
        return f"oversized header {got[:40]!r}"
    st, _, body = _request(port, "GET", "/readings", cookie=f"sid={sid.group(1)}")
    if st != 200 or int(body.split()[0]) < 1:
        return f"readings {st}"
    return ""


def run_page(mp: str, path: str, s: Setup, heap: int, *, broker: bool) -> str:
    """Runs the page flow; returns env_sensor's closing heap line."""
    work = s.tmp / "w"
    shutil.copytree(s.board, work)
    port, control = free_port(), free_port()
    mod = s.script(PAGE % {"dir": str(work), "port": port, "control": control})
    p = subprocess.Popen(
        [mp, "-X", f"heapsize={heap}K", "-c", f"import {mod}"],
        env=dict(os.environ, MICROPYPATH=path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert p.stdout is not None
    out = b""
    why = "did not start serving"
    try:
        end = time.monotonic() + 60
        while b"serving on port" not in out and time.monotonic() < end:
            if select.select([p.stdout], [], [], 1)[0]:
                chunk = os.read(p.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
        if b"serving on port" in out:
            try:
                why = _flow(port, broker)
            except (OSError, http.client.HTTPException, ValueError) as e:
                why = f"{type(e).__name__}: {e}"
            try:
                with socket.create_connection(("127.0.0.1", control), timeout=10):
                    pass
            except OSError:
                pass  # the board is not listening any more (it failed): the flow says why
        rest, _ = p.communicate(timeout=60)
        out += rest
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        shutil.rmtree(work)
    text = out.decode("utf-8", "replace")
    if why or p.returncode or "Traceback" in text:
        if "MemoryError" in text or "memory allocation failed" in text or re.search(r" 500\b", why):
            raise OutOfHeap(f"the page flow at {heap}K: {why}")
        raise RuntimeError(f"the page flow at {heap}K: {why or 'exit ' + str(p.returncode)}\n{text[-3000:]}")
    m = re.search(r"heap in use: \d+ at start, \d+ at most, of \d+", text)
    return m.group(0) if m else ""


def scan(run: Callable[[int], object], top: int, lo: int) -> int:
    """Smallest N (KiB) from which every heap up to top runs run(N)."""
    said = run(top)
    if said:
        print(f"  at {top}K: {said}", file=sys.stderr)  # must run at the top (raises otherwise)
    need = top
    while need > lo:
        try:
            run(need - 1)
        except OutOfHeap:
            break
        need -= 1
    return need


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("frozen", nargs="?", help="a micropython built with the SDK frozen in")
    ap.add_argument("--only", default="a,b,c", help="steps to run (a, b, c; comma-separated)")
    ap.add_argument("--plain", help="the same micropython built without the SDK frozen in")
    ap.add_argument("--ways", default="frozen,.mpy,.mpy (plain),.mpy (pip)", help="which ways to run")
    args = ap.parse_args()
    if not args.frozen:
        print("heap_frozen: skipped: no frozen micropython given (see bench/results/heap-frozen.md to build one)")
        return 0
    frozen = str(Path(args.frozen).resolve())
    if not os.access(frozen, os.X_OK):
        print(f"heap_frozen: skipped: {frozen} is not an executable")
        return 0
    pip = require_tool("micropython")
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory(prefix="sbd-heap-frozen-") as d:
        board = Path(d) / "board"
        board.mkdir()
        setups: dict[str | None, Setup] = {}

        def setup_for(mp: str) -> Setup:
            arch = interpreter_mpy(mp)[2]
            if arch not in setups:
                setups[arch] = Setup(Path(d) / (arch or "none"), arch, board)
            return setups[arch]

        s = setup_for(pip)
        # MICROPYPATH of each way; {t}: the tests' and scripts' .mpy, {sdk}: the SDK's
        ways = {
            "frozen": (frozen, ".frozen:{t}"),
            ".mpy": (frozen, "{sdk}:{t}:.frozen"),
            ".mpy (pip)": (pip, "{sdk}:{t}"),
        }
        if args.plain:
            ways[".mpy (plain)"] = (str(Path(args.plain).resolve()), "{sdk}:{t}")
        order = args.ways.split(",")
        ways = {k: ways[k] for k in order if k in ways}
        # the board, provisioned once (bench_heap's PROVISION) by the pip build
        prov = s.script(PROVISION % {"dir": str(board), "it": ITERATIONS})
        r = subprocess.run(
            [pip, "-X", "heapsize=256K", "-c", f"import {prov}"],
            env=dict(os.environ, MICROPYPATH=f"{s.sdk}:{s.t}"),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if "RESULT" not in r.stdout:
            raise SystemExit(f"provisioning failed:\n{r.stdout}{r.stderr}")
        # (top with the SDK frozen, top as .mpy, lowest tried), KiB: each top well
        # above that way's need (the scan is 1 KiB steps down from it)
        tops = {"a": (96, 128, 24), "b": (64, 96, 16), "c0": (128, 176, 32), "c1": (128, 192, 32)}
        steps = {
            "a": "update path (test_ota_heap: refresh + install of 2 targets)",
            "b": "boot step (identity.load, auth.check, creds.set + get)",
            "c0": "env_sensor page flow, no broker",
            "c1": "env_sensor page flow, a broker configured",
        }
        rows = []
        for key, label in steps.items():
            if key[0] not in only:
                continue
            row = [label]
            for way, (mp, template) in ways.items():
                s = setup_for(mp)
                path = template.format(t=s.t, sdk=s.sdk)
                top = tops[key][0] if way == "frozen" else tops[key][1]
                lo = tops[key][2]
                fn: Callable[[int], object]
                if key == "a":
                    fn = functools.partial(run_update, mp, path, s)
                elif key == "b":
                    fn = functools.partial(run_boot, mp, path, s)
                else:
                    fn = functools.partial(run_page, mp, path, s, broker=key == "c1")
                t0 = time.monotonic()
                try:
                    need = f"{scan(fn, top, lo)} KiB"
                except (OutOfHeap, RuntimeError) as e:
                    need = "does not run"
                    print(f"{label} [{way}]: {str(e)[:2000]}", file=sys.stderr)
                print(f"{label} [{way}]: needs {need} ({time.monotonic() - t0:.0f} s)", file=sys.stderr)
                row.append(need)
            rows.append(row)
    print("| step | " + " | ".join(ways) + " |")
    print("|---|" + "---:|" * len(ways))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
