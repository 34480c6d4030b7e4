"""`sbd demo`: a virtual board running the minimal example, start to finish:
deployed, provisioned with its own password, and logged in to; then the
env_sensor example's configuration page, logged in to over HTTP; then a
signed update published to a TUF repository, installed, trial-booted and
confirmed, and a tampered one refused."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import http.client
import http.server
import os
import re
import secrets
import shutil
import socket
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import click

from .. import station
from ..provision import factorydb
from ..vboard import runner, store
from . import keys as keys_cmd
from . import ota as ota_cmd
from .deploy import deploy_to_vboard

STEPS = 10
UPDATE_PRODUCT = "sbd-minimal"
PRODUCT = station.Product("sbd demo sensor", "2031-12-31", "security@example.com", serial_prefix="DEMO-")

# Runs on the board: tries the passwords it is given, as a login page would.
LOGIN = """
import time
from sbd import auth, telemetry
telemetry.start()  # the board's telemetry stream, here to its serial console
telemetry.add_sink(telemetry.CallbackSink(lambda p: print('      telemetry', p.decode()) or True))
for pw in {tries!r}:
    while True:
        try:
            ok = auth.check(pw)
            break
        except auth.Locked as e:
            print('      locked: wait', e.wait_ms, 'ms (back-off after repeated failures)')
            time.sleep_ms(e.wait_ms)
    verdict = 'accepted' if ok else 'REFUSED'
    print('      password', repr(pw[:5] + '...'), verdict, '- failures so far:', auth.failures())
    telemetry.pump()
"""


# Runs on the board: env_sensor's page on 127.0.0.1 until the host connects
# to a second, control port (the unix port has sockets; no radio).  The
# example's tests serve it the same way.
SERVE_ENV_SENSOR = """
import socket, select
ctl = socket.socket()
ctl.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ctl.bind(socket.getaddrinfo('127.0.0.1', {control})[0][-1])
ctl.listen(1)
p = select.poll()
p.register(ctl, select.POLLIN)
import env_sensor
env_sensor.main(port={port}, host='127.0.0.1', stop=lambda: bool(p.poll(0)))
"""


# Runs on the board: its main.py (the minimal example's boot stage and app),
# with the telemetry stream printed on the console.
MAIN_WITH_TELEMETRY = """
from sbd import telemetry
telemetry.start()
telemetry.add_sink(telemetry.CallbackSink(lambda p: print('      telemetry', p.decode()) or True))
try:
    import main
finally:
    telemetry.pump()
"""

# Runs on the board: writes the files it is given (the update settings).
WRITE_FILES = """
for name, data in {files!r}.items():
    with open(name, 'wb') as f:
        f.write(data)
    print('      wrote', name, len(data), 'bytes')
"""


class _RepoHandler(ota_cmd.RepoHandler):
    """`sbd ota serve`'s handler, narrating each request on stderr."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        say(f"      repository: GET {self.path} -> {code}")


@contextlib.contextmanager
def serve_repo(repo: Path, port: int = 0) -> Iterator[int]:
    """What `sbd ota serve REPO --port PORT` does, in this process: HTTP on 127.0.0.1."""
    handler = functools.partial(_RepoHandler, directory=str(repo))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield int(srv.server_address[1])
    finally:
        srv.shutdown()
        srv.server_close()
        th.join(10)


def _sbd(group: click.Group, *args: str) -> None:
    """Run an `sbd keys`/`sbd ota` command in this process, as typed."""
    say(f"      $ sbd {group.name} {' '.join(args)}")
    group.main(list(args), prog_name=f"sbd {group.name}", standalone_mode=False)


def make_repository() -> tuple[Path, Path]:
    """Step 8, in the vendor's folder (the current one): the signing keys
    and a TUF repository with release 1 in it.  (keys folder, repository)"""
    k = Path("keys")
    repo = Path("repo")
    k.mkdir()
    for role in ("root", "targets", "snapshot", "timestamp"):
        _sbd(keys_cmd.cli, "new", str(k / f"{role}.key"))
    _sbd(
        ota_cmd.cli,
        "init",
        str(repo),
        *("--root-key", str(k / "root.key.pub"), "--targets-key", str(k / "targets.key.pub")),
        *("--snapshot-key", str(k / "snapshot.key.pub"), "--timestamp-key", str(k / "timestamp.key.pub")),
    )
    _sbd(ota_cmd.cli, "sign", str(repo), "--role", "root", "--key", str(k / "root.key"))
    publish(repo, k, "1.1.0")
    return k, repo


def publish(repo: Path, k: Path, version: str) -> None:
    # The release is the app's code: main.py and app.py (compiled to
    # lib/app.mpy), not its README or the board's own update settings.
    app = Path("app")
    shutil.rmtree(app, ignore_errors=True)
    app.mkdir()
    for f in ("main.py", "app.py"):
        shutil.copyfile(example_dir("minimal") / f, app / f)
    _sbd(
        ota_cmd.cli,
        "add",
        str(repo),
        str(app),
        *("--board", "pico_w", "--product", UPDATE_PRODUCT, "--version", version),
    )
    for role in ("targets", "snapshot", "timestamp"):
        _sbd(ota_cmd.cli, "sign", str(repo), "--role", role, "--key", str(k / f"{role}.key"))
    _sbd(ota_cmd.cli, "publish", str(repo))


def tamper(repo: Path, release: int) -> str:
    """Change one byte of the app in `release` after it was signed (as an
    attacker on the server or the path would); the changed file's name."""
    files = sorted((repo / "targets" / UPDATE_PRODUCT / "pico_w" / str(release) / "lib").glob("*app.mpy"))
    if not files:
        raise click.ClickException(f"release {release}: no app.mpy in the repository")
    for f in files:
        data = bytearray(f.read_bytes())
        data[-2] ^= 0x01
        f.write_bytes(bytes(data))
    return str(files[0].relative_to(repo))


def update_story(vb: store.VBoard, work: Path) -> None:
    """Steps 8-10: publish a signed release, the board installs, trial-boots
    and confirms it; then a tampered release is refused."""
    step = 8
    say(f"[{step}/{STEPS}] publishing a signed update: the vendor's Ed25519 keys (encrypted files) and a TUF")
    say("      repository, made with the same `sbd keys` and `sbd ota` commands a vendor types")
    say(f"      (in {work}; the keys' passphrase is a random one for this run)")
    old = os.environ.get("SBD_KEY_PASSPHRASE")
    os.environ["SBD_KEY_PASSPHRASE"] = secrets.token_urlsafe(16)  # this run's; a vendor types theirs
    cwd = os.getcwd()
    os.chdir(work)
    try:
        k, repo = make_repository()
        with serve_repo(repo.resolve()) as port:
            say(f"      serving {repo}/ on http://127.0.0.1:{port}/ (what `sbd ota serve` does)")
            say("      the board follows it: /update.json names it, /update_root.json is its first root")
            settings = {"url": f"http://127.0.0.1:{port}/", "product": UPDATE_PRODUCT, "board": vb.board.name}
            files = {
                "main.py": (example_dir("minimal") / "main.py").read_bytes(),
                "update.json": (str(settings).replace("'", '"') + "\n").encode(),
                "update_root.json": (repo / "metadata" / "1.root.json").read_bytes(),
            }
            _boot(vb, WRITE_FILES.format(files=files))
            say(f"[9/{STEPS}] power-on: the board checks for updates, fetches and verifies release 1 (TUF:")
            say("      signatures, versions, expiry, lengths and hashes) and installs it into the other slot")
            _boot(vb, MAIN_WITH_TELEMETRY)
            say("      power-on: sbd.boot boots the new release on trial; it works, so it confirms itself")
            _boot(vb, MAIN_WITH_TELEMETRY)
            say(f"[10/{STEPS}] a tampered update: release 2 is published and signed, then its app is changed")
            say("      on the server after signing")
            publish(repo, k, "1.2.0")
            say(f"      changed one byte of {tamper(repo, 2)}")
            say("      power-on: the board fetches release 2 and refuses it")
            _boot(vb, MAIN_WITH_TELEMETRY)
            say("      power-on again: still the good release")
            _boot(vb, MAIN_WITH_TELEMETRY)
    finally:
        os.chdir(cwd)
        if old is None:
            os.environ.pop("SBD_KEY_PASSPHRASE", None)
        else:
            os.environ["SBD_KEY_PASSPHRASE"] = old


def free_port() -> int:
    """A free TCP port on 127.0.0.1, picked by the host: the unix port has no
    getsockname() (a port taken in between makes the board fail to bind)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def login_token(r: http.client.HTTPResponse) -> tuple[str, str]:
    """(the form's token, the Cookie header value) from a page with
    env_sensor's login form, as a browser would send them back."""
    page = getattr(r, "body", b"")
    m = re.search(rb"name=csrf value=([0-9a-f]{32})", page)
    c = re.search(r"lt=([0-9a-f]{32});", r.getheader("Set-Cookie") or "")
    if not m or not c:
        raise click.ClickException("the page has no login form")
    return m.group(1).decode(), f"lt={c.group(1)}"


def _request(
    port: int, method: str, path: str, form: dict[str, str] | None = None, cookie: str = ""
) -> http.client.HTTPResponse:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": cookie} if cookie else {}
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    r.body = r.read()  # type: ignore[attr-defined]
    c.close()
    return r


def _login(port: int, password: str) -> http.client.HTTPResponse:
    token, cookie = login_token(_request(port, "GET", "/"))
    return _request(port, "POST", "/login", {"csrf": token, "password": password}, cookie)


def serve_page(vb: store.VBoard, password: str) -> None:
    """Boot the board serving env_sensor's page; log in wrong, then right."""
    port, control = free_port(), free_port()
    out: list[bytes] = []
    ready = threading.Event()
    result: list[runner.BootResult] = []

    def on_output(chunk: bytes) -> None:
        out.append(chunk)
        _echo(chunk)
        if b"serving on port" in b"".join(out):
            ready.set()

    def run() -> None:
        result.append(runner.boot(vb, script=SERVE_ENV_SENSOR.format(port=port, control=control), on_output=on_output))
        ready.set()

    th = threading.Thread(target=run, daemon=True)
    th.start()
    ready.wait(60)
    try:
        if result or not ready.is_set():
            raise click.ClickException("the board did not start serving its page")
        say(f"      http://127.0.0.1:{port}/ : GET / (the login form, with its CSRF token), then")
        say("      POST /login with a wrong password")
        r = _login(port, "not-the-password")
        say(f"      -> {r.status} {r.reason}")
        say("      POST /login with the label's password")
        r = _login(port, password)
        cookie = r.getheader("Set-Cookie") or ""
        shown = re.sub(r"sid=[0-9a-f]+", "sid=<random>", cookie)
        say(f"      -> {r.status} {r.reason}, Set-Cookie: {shown}")
        if r.status != 303:
            raise click.ClickException("the page did not accept the board's password")
    finally:
        try:
            with socket.create_connection(("127.0.0.1", control), timeout=10):
                pass
        except OSError:
            pass  # the board is not listening (it failed): boot's timeout ends it
        th.join(120)


def default_name(checkout: Path | None = None) -> str:
    """demo-<8 hex digits of this checkout's path>: two checkouts sharing one
    SBD_HOME drive boards of their own (a second run from the same checkout
    waits for the first: demo_lock)."""
    where = checkout if checkout is not None else Path(__file__).resolve().parents[2]
    return "demo-" + hashlib.sha256(str(where).encode()).hexdigest()[:8]


@contextlib.contextmanager
def demo_lock(name: str) -> Iterator[None]:
    """One demo per board name at a time: a second one says it waits, then waits."""
    locks = store.home() / "demo-locks"
    locks.mkdir(parents=True, exist_ok=True)
    fd = os.open(locks / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for the other demo using board {name!r} to finish (or give --name)")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def example_dir(name: str) -> Path:
    here = Path(__file__).resolve().parents[1]
    for cand in (here.parent.parent / "examples" / name, here / "examples" / name):
        if (cand / "main.py").is_file():
            return cand
    raise click.ClickException(f"example {name!r} not found")


def say(msg: str) -> None:
    click.secho(msg, fg="cyan", err=True)


def _echo(chunk: bytes) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.flush()


def _boot(vb: store.VBoard, script: str | None = None) -> None:
    res = runner.boot(vb, script=script, on_output=_echo)
    if res.ended != runner.EXIT or "Traceback" in res.output:
        raise click.ClickException(f"the board {res.ended} instead of finishing its script")


@click.command("demo")
@click.option("--board", default="pico_w", show_default=True, help="Board the virtual board emulates.")
@click.option(
    "--name",
    default=None,
    help="Name of the virtual board to (re)create [default: demo-<a hash of this checkout's path>].",
)
def cli(board: str, name: str | None) -> None:
    """Create a virtual board, deploy the SDK and the minimal example to it
    with mpy-cross and mpremote, provision it with its own password (as a
    factory station does), boot it, then log in with the right password and
    with wrong ones (the back-off shows); serve env_sensor's page; publish a
    signed update that the board installs, trial-boots and confirms, then a
    tampered one it refuses.

    Each checkout has its own board name; a second demo with the same name
    waits for the first."""
    if name is None:
        name = default_name()
    with demo_lock(name):
        run_demo(board, name)


def run_demo(board: str, name: str) -> None:
    say(f"[1/{STEPS}] creating virtual board {name!r} ({board})")
    vb = store.create(name, board, force=True)
    say(f"      unique id {vb.uid.hex()}, flash image {vb.image}")
    say(f"[2/{STEPS}] first power-on: the blank flash gets a littlefs2 filesystem")
    res = runner.boot(vb, script="pass")
    say("      formatted" if res.formatted else "      filesystem already there")
    say(f"[3/{STEPS}] deploying the sbd SDK and examples/minimal over the board's serial pty (mpremote)")
    n = deploy_to_vboard(name, example_dir("minimal"))
    say(f"      {n} files copied")
    say(f"[4/{STEPS}] provisioning it as a factory station does: its own password, made on this host,")
    say("      its root key made on the board, a label, a row in the factory database")
    out_dir = vb.dir / "factory"
    out_dir.mkdir(exist_ok=True)
    opts = station.Options(labels_dir=out_dir / "labels", keep_password=True)
    with factorydb.open_db(str(out_dir / "factory.db"), station="demo") as db:
        (done,) = station.provision_many(station.VBoardLink, [name], db, PRODUCT, opts)
    if not done.ok or not done.password:
        raise click.ClickException(f"provisioning failed: {done.error}")
    say(f"      serial {done.serial}; password {done.password}")
    say(f"      label: {', '.join(done.labels)}")
    say(f"[5/{STEPS}] power-on: boot.py, then main.py")
    _boot(vb)
    say(f"[6/{STEPS}] logging in: the right password, three wrong ones, then the right one again")
    say("      (lines marked telemetry are the board's security events, as sbd.telemetry sends them)")
    right = done.password
    _boot(vb, LOGIN.format(tries=[right, "admin", "password", "12345678", right]))
    say(f"[7/{STEPS}] examples/env_sensor: its configuration page, behind the same password")
    n = deploy_to_vboard(name, example_dir("env_sensor"), with_sdk=False)
    say(f"      {n} files copied; booting it serving on 127.0.0.1")
    serve_page(vb, right)
    work = vb.dir / "vendor"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    update_story(vb, work)
    say(
        f"done. The label is in {out_dir / 'labels'}. Try: sbd vboard serial {name}, then "
        "mpremote connect <pty> resume repl"
    )
