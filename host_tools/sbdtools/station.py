"""The factory station: give boards their identity and password.

The library behind `sbd provision` (docs/provisioning.md).  For each board:

1. read it: unique id, SDK version, whether it already has a factory record;
2. put the SDK on it when it lacks it or has an older one (the code of
   `sbd deploy`);
3. start the board in the factory database (a serial; a board left half-done
   by a crash is resumed under its serial);
4. generate its password on this host (CSPRNG, sbdtools.provision.passwords)
   and its PBKDF2 verifier with the board's iteration count;
5. ask the board to make its root key (its own RNG mixed with 32 bytes from
   this host) and write the record (sbd.identity.provision);
6. self-test on the board: the record loads, is bound to this board and the
   password verifies (sbd.auth);
7. write its label, then mark it provisioned (with the escrowed password
   when a vendor key is given).  Any failure marks the board failed, with the
   reason, and a re-run redoes it; nothing is marked provisioned before the
   label holding its password exists.

Boards are reached through a `Link`: a real board's serial port through
mpremote, a virtual board through its pty and the same mpremote code.
Scripts go to the board as temporary files (mode 0600) run with `mpremote
run`, so a password never appears on a command line.  Every function takes
its link or database first; the CLI is a thin layer.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__, boards, brokerfiles, deploy
from .boards import BoardConfig
from .errors import SbdError
from .fileio import write_atomic
from .mpytools import interpreter_mpy, require_tool
from .provision import factorydb, passwords

_MARK = "@@SBD-RESULT"
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
MAX_BOARDS = 64  # per batch: one thread and one mpremote at a time per board
# A script's time limit.  The longest, the self-test, is one PBKDF2 check
# (0.3-0.5 s on a board) plus loading the record: seconds.  A board reset in
# the middle (a brown-out) leaves mpremote waiting for output that never
# comes, so the limit is what ends that wait.
SCRIPT_TIMEOUT = 60.0
_HEX_UID = re.compile(r"[0-9a-f]{8,32}\Z")


class ProvisionError(SbdError):
    """One board could not be provisioned; the message says why and what to do."""


@dataclass(frozen=True)
class Product:
    """What every board of a batch gets in its record and on its label."""

    model: str
    support_end: str  # YYYY-MM-DD: end of the security-update support period
    disclosure: str  # vulnerability disclosure contact (URL or e-mail)
    serial_prefix: str = factorydb.DEFAULT_SERIAL_PREFIX
    setup_ssid: str | None = None  # the product's setup access point: a WIFI QR on the label
    trust_root: bytes | None = None  # SHA-256 of the update trust root to pin

    def check(self) -> None:
        if not 1 <= len(self.model) <= 64 or not self.model.isprintable():
            raise SbdError("--model: 1 to 64 printable characters")
        if not _DATE_RE.match(self.support_end):
            raise SbdError("--support-end: a date as YYYY-MM-DD (the end of the support period)")
        if not 3 <= len(self.disclosure) <= 128 or not self.disclosure.isprintable():
            raise SbdError("--disclosure: 3 to 128 printable characters (a URL or an e-mail address)")
        if self.trust_root is not None and len(self.trust_root) != 32:
            raise SbdError("the trust root pin must be a SHA-256 (32 bytes)")


@dataclass
class Outcome:
    """What happened to one board (`password` only kept when asked for)."""

    target: str
    ok: bool = False
    serial: str | None = None
    unique_id: str | None = None
    action: str | None = None
    sdk_deployed: bool = False
    labels: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    password: str | None = None

    def as_dict(self, *, with_password: bool = False) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "password"}
        if with_password:
            d["password"] = self.password
        return d


# -- links to boards ----------------------------------------------------------


class Link:
    """A board reached over a serial port with mpremote (a real board, or a
    virtual board's pty).  `arch` is what the SDK is compiled for."""

    def __init__(
        self, name: str, port: str, config: BoardConfig, arch: str | None, *, timeout: float = SCRIPT_TIMEOUT
    ) -> None:
        self.name = name
        self.port = port
        self.config = config
        self.arch = arch
        self.timeout = timeout

    def run(self, script: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Run a script on the board; return the JSON it reported with
        `_MARK`.  A board error arrives as {"error": name, "msg": text}."""
        timeout = self.timeout if timeout is None else timeout
        fd, path = tempfile.mkstemp(prefix="sbd-station-", suffix=".py")  # 0600 by mkstemp
        try:
            with os.fdopen(fd, "w") as f:
                f.write(script)
            try:
                r = subprocess.run(
                    [require_tool("mpremote"), "connect", self.port, "resume", "run", path],
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    errors="replace",
                )
            except subprocess.TimeoutExpired:
                raise ProvisionError(
                    f"{self.name}: the board did not answer within {timeout:g} s "
                    "(is it running an app that blocks the REPL? reset it and retry)"
                ) from None
        finally:
            os.unlink(path)
        for line in reversed(r.stdout.splitlines()):
            if line.startswith(_MARK + " "):
                try:
                    doc = json.loads(line[len(_MARK) + 1 :])
                except ValueError:
                    break
                if isinstance(doc, dict):
                    return doc
                break
        msg = (r.stderr or r.stdout).strip().splitlines()
        tail = msg[-1] if msg else f"mpremote exit status {r.returncode}"
        hint = " (is the board connected and the port free? `sbd doctor` checks)" if r.returncode else ""
        raise ProvisionError(f"{self.name}: no answer from the board: {tail[:300]}{hint}")

    def deploy_sdk(self) -> int:
        bundle, files = _sdk_bundle(self.arch)
        deploy.deploy(self.port, bundle, files)
        return len(files)

    def close(self) -> None:
        pass


# The SDK compiled once per architecture for the whole process: a batch of
# boards would otherwise run mpy-cross over the SDK once per board (measured:
# most of the deploy step with 8 boards, bench/results/station.md).
_bundles: dict[str | None, tuple[tempfile.TemporaryDirectory[str], list[str]]] = {}
_bundles_lock = threading.Lock()


def _sdk_bundle(arch: str | None) -> tuple[Path, list[str]]:
    with _bundles_lock:
        if arch not in _bundles:
            tmp = tempfile.TemporaryDirectory(prefix="sbd-bundle-")
            _bundles[arch] = (tmp, deploy.build_bundle(Path(tmp.name), arch=arch))
        tmp, files = _bundles[arch]
        return Path(tmp.name), files


class VBoardLink(Link):
    """A virtual board, served on a pty for the time of the job."""

    def __init__(self, name: str, *, timeout: float = SCRIPT_TIMEOUT) -> None:
        from .vboard import runner, serial, store

        self._vb = store.get(name)
        self._started = not self._vb.state().get("pty")
        port = serial.start_background(self._vb, tied_to_caller=True)
        arch = interpreter_mpy(runner.micropython_binary())[2]  # the unix port's own
        super().__init__(f"vboard {name}", port, self._vb.board, arch, timeout=timeout)

    def close(self) -> None:
        from .vboard import serial

        if self._started:
            serial.stop_background(self._vb)


def serial_link(port: str, board: str, *, timeout: float = SCRIPT_TIMEOUT) -> Link:
    cfg = boards.load(board)
    return Link(port, port, cfg, cfg.mpy_arch, timeout=timeout)


def detect_ports(board: str | None = None) -> list[tuple[str, str]]:
    """Serial ports whose USB ids belong to a known board: (device, board).
    A port whose ids fit several boards needs `board` to say which."""
    from serial.tools import list_ports

    ids: dict[tuple[int, int], set[str]] = {}
    for name in boards.names():
        for u in boards.load(name).usb:
            ids.setdefault((u.vid, u.pid), set()).add(name)
    found = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        if p.vid is None or p.pid is None:
            continue
        fits = ids.get((p.vid, p.pid), set())
        if board is not None:
            if board in fits:
                found.append((p.device, board))
        elif len(fits) == 1:
            found.append((p.device, next(iter(fits))))
        elif fits:
            raise SbdError(
                f"{p.device} ({p.vid:04x}:{p.pid:04x}) could be {', '.join(sorted(fits))}: say which with --board"
            )
    return found


# -- device scripts -----------------------------------------------------------

_REPORT = f"""
import json
def _report(d):
    print({_MARK!r}, json.dumps(d))
"""

INFO = (
    _REPORT
    + """
import sys, binascii, machine
d = {'uid': binascii.hexlify(machine.unique_id()).decode(), 'platform': sys.platform,
     'mp': '.'.join(str(x) for x in sys.implementation.version[:3])}
try:
    import sbd
    d['sdk'] = sbd.__version__
except ImportError:
    d['sdk'] = None
d['record'] = None
if d['sdk']:
    try:
        from sbd import identity
        if identity.is_provisioned():
            d['record'] = {'serial': identity.load().serial}
    except ImportError:
        d['sdk'] = None
    except Exception as e:
        d['record'] = {'error': type(e).__name__, 'msg': str(e)}
_report(d)
"""
)

PROVISION = (
    _REPORT
    + """
from binascii import hexlify, unhexlify
try:
    from sbd.identity import provision
    i = provision.provision(unhexlify({entropy!r}), {serial!r}, {model!r}, {support_end!r}, {disclosure!r},
                            unhexlify({salt!r}), {iterations!r}, unhexlify({dk!r}),
                            trust_root={trust_root}, replace={replace!r})
    _report({{'serial': i.serial, 'uid': hexlify(i.uid).decode()}})
except Exception as e:
    _report({{'error': type(e).__name__, 'msg': str(e)}})
"""
)

SELF_TEST = (
    _REPORT
    + """
from binascii import hexlify
try:
    from sbd import identity, auth, board
    i = identity.load()
    _report({{'serial': i.serial, 'uid': hexlify(i.uid).decode(), 'bound': i.uid == board.unique_id(),
              'password': auth.check({password!r})}})
except Exception as e:
    _report({{'error': type(e).__name__, 'msg': str(e)}})
"""
)


BROKER_SECRET = (
    _REPORT
    + """
try:
    from sbd.net import broker
    _report({'line': broker.make_secret()})
except Exception as e:
    _report({'error': type(e).__name__, 'msg': str(e)})
"""
)


def _version(v: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in (v or "").split("."))
    except ValueError:
        return ()


def _device_error(link: Link, doc: dict[str, Any], what: str) -> ProvisionError:
    return ProvisionError(f"{link.name}: {what} failed on the board: {doc.get('error')}: {str(doc.get('msg'))[:300]}")


# -- one board ----------------------------------------------------------------


@dataclass
class Options:
    labels_dir: Path
    stock: str = "62mm"
    label_formats: tuple[str, ...] = ("png", "pdf")
    escrow_key: Any = None  # an X25519 public key (sbdtools.provision.escrow)
    reprovision: bool = False
    keep_password: bool = False
    broker_dir: Path | None = None  # append each board's broker password_file line here (sbdtools.brokerfiles)


def provision_board(
    link: Link,
    db: factorydb.FactoryDB,
    product: Product,
    opts: Options,
    progress: Callable[[str], None] = lambda _s: None,
    out: Outcome | None = None,
) -> Outcome:
    """Provision the board on `link`.  Raises ProvisionError (or another
    SbdError) when it fails; the database then says 'failed' and why.  `out`
    (made here when not given) is filled in as the work goes, so a caller
    still knows the board's unique id and serial after a failure."""
    out = out if out is not None else Outcome(target=link.name)
    t0 = time.monotonic()
    progress("reading the board")
    info = link.run(INFO)
    if "error" in info or not _HEX_UID.match(str(info.get("uid", ""))):
        raise ProvisionError(f"{link.name}: the board did not report a unique id")
    uid = str(info["uid"])
    out.unique_id = uid
    if info.get("sdk") is None or _version(info["sdk"]) < _version(__version__):
        progress(f"deploying the SDK {__version__}")
        link.deploy_sdk()
        out.sdk_deployed = True
        info = link.run(INFO)
        if info.get("sdk") != __version__:
            raise ProvisionError(f"{link.name}: the SDK did not import after deploying it (sdk={info.get('sdk')})")
    record = info.get("record")
    known = factorydb.get_board(db, uid)
    if isinstance(record, dict) and "serial" in record and known is None and not opts.reprovision:
        raise ProvisionError(
            f"{link.name}: the board already has a factory record (serial {record['serial']}) "
            "that this database does not know; use --reprovision to replace it"
        )
    try:
        start = factorydb.begin_provisioning(
            db,
            uid,
            model=product.model,
            board=link.config.name,
            firmware_version=info.get("mp"),
            sdk_version=__version__,
            serial_prefix=product.serial_prefix,
            reprovision=opts.reprovision,
        )
    except factorydb.AlreadyProvisionedError as e:
        raise ProvisionError(f"{link.name}: {e}") from None
    out.serial, out.action = start.board.serial, start.action
    try:
        _provision_started(link, db, product, opts, out, record is not None, progress)
    except BaseException as e:  # record the failure whatever it was, then re-raise
        reason = str(e) if isinstance(e, SbdError) else f"{type(e).__name__}: {e}"
        try:
            factorydb.fail_provisioning(db, uid, reason[:200])
        except SbdError:
            pass  # the database is what failed: the original error says more
        raise
    out.ok = True
    out.seconds = round(time.monotonic() - t0, 2)
    return out


def _provision_started(
    link: Link,
    db: factorydb.FactoryDB,
    product: Product,
    opts: Options,
    out: Outcome,
    has_record: bool,
    progress: Callable[[str], None],
) -> None:
    from .provision import escrow, labels

    assert out.serial is not None and out.unique_id is not None
    password = passwords.generate()
    v = passwords.verifier(password, link.config.pbkdf2_iterations)
    progress("making the root key and the record on the board")
    doc = link.run(
        PROVISION.format(
            entropy=secrets.token_bytes(32).hex(),
            serial=out.serial,
            model=product.model,
            support_end=product.support_end,
            disclosure=product.disclosure,
            salt=v.salt.hex(),
            iterations=v.iterations,
            dk=v.key.hex(),
            trust_root=f"unhexlify({product.trust_root.hex()!r})" if product.trust_root else "None",
            replace=has_record,
        )
    )
    if "error" in doc:
        raise _device_error(link, doc, "writing the factory record")
    progress("self-test")
    doc = link.run(SELF_TEST.format(password=password))
    if "error" in doc:
        raise _device_error(link, doc, "the self-test")
    if doc.get("serial") != out.serial or doc.get("uid") != out.unique_id or doc.get("bound") is not True:
        raise ProvisionError(f"{link.name}: the self-test read back another record ({doc.get('serial')})")
    if doc.get("password") is not True:
        raise ProvisionError(f"{link.name}: the self-test: the board did not accept its new password")
    if opts.broker_dir is not None:
        progress("making the broker secret on the board")
        doc = link.run(BROKER_SECRET)
        if "error" in doc:
            raise _device_error(link, doc, "making the broker secret")
        brokerfiles.add_device(opts.broker_dir, out.serial, str(doc.get("line", "")))
    progress("writing the label")
    data = labels.LabelData(product.model, out.serial, password, wifi_ssid=product.setup_ssid)
    out.labels = [str(p) for p in labels.write_labels(opts.labels_dir, data, opts.stock, formats=opts.label_formats)]
    sealed = (
        escrow.seal(password, opts.escrow_key, serial=out.serial, unique_id=out.unique_id)
        if opts.escrow_key is not None
        else None
    )
    factorydb.finish_provisioning(db, out.unique_id, escrow=sealed, sdk_version=__version__)
    if opts.keep_password:
        out.password = password


# -- many boards --------------------------------------------------------------


def provision_many(
    open_link: Callable[[str], Link],
    targets: Sequence[str],
    db: factorydb.FactoryDB,
    product: Product,
    opts: Options,
    *,
    jobs: int = 4,
    progress: Callable[[str, str], None] = lambda _t, _s: None,
) -> list[Outcome]:
    """Provision every target (one thread each, at most `jobs` at once).  A
    board that fails is reported in its Outcome and never stops the others."""
    if len(targets) > MAX_BOARDS:
        raise SbdError(f"at most {MAX_BOARDS} boards per batch ({len(targets)} given)")
    if len(set(targets)) != len(targets):
        raise SbdError("a board is listed twice")
    product.check()
    lock = threading.Lock()

    def one(target: str) -> Outcome:
        t0 = time.monotonic()
        out = Outcome(target=target)
        link = None
        try:
            link = open_link(target)
            provision_board(link, db, product, opts, lambda s: progress(target, s), out)
            progress(target, f"done: {out.serial}")
        except SbdError as e:
            out.error = str(e)
        except Exception as e:  # a bug on one board must not take the batch down
            out.error = f"internal error: {type(e).__name__}: {e}"
        finally:
            out.seconds = round(time.monotonic() - t0, 2)
            if out.error:
                progress(target, "failed")
            if link is not None:
                with lock:
                    link.close()
        return out

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(targets) or 1))) as pool:
        return list(pool.map(one, targets))


# -- offline images -----------------------------------------------------------


def provision_image(
    out_path: Path,
    db: factorydb.FactoryDB,
    config: BoardConfig,
    unique_id: bytes,
    product: Product,
    opts: Options,
    *,
    arch: str | None = None,
    firmware_version: str | None = None,
) -> Outcome:
    """A per-device filesystem image (the SDK and the factory record) for a
    board flashed offline.  The only case where the root key is made on the
    host: both of its entropy inputs come from this host's CSPRNG, and it is
    forgotten as soon as the record is encoded.  `arch`: what the SDK is
    compiled for (the board's own by default; a virtual board runs x64)."""
    from . import fsimage, shims
    from .provision import escrow, labels

    product.check()
    shims.install()
    from sbd.identity import provision as idprov  # the device's own encoder: one format

    uid = unique_id.hex()
    outcome = Outcome(target=str(out_path), unique_id=uid)
    start = factorydb.begin_provisioning(
        db,
        uid,
        model=product.model,
        board=config.name,
        sdk_version=__version__,
        serial_prefix=product.serial_prefix,
        reprovision=opts.reprovision,
        firmware_version=firmware_version,
    )
    outcome.serial, outcome.action = start.board.serial, start.action
    try:
        password = passwords.generate()
        v = passwords.verifier(password, config.pbkdf2_iterations)
        key = idprov.make_root_key(secrets.token_bytes(32), unique_id, device_entropy=secrets.token_bytes(32))
        record = idprov.encode(
            key,
            unique_id,
            start.board.serial,
            product.model,
            product.support_end,
            product.disclosure,
            v.salt,
            v.iterations,
            v.key,
            trust_root=product.trust_root,
        )
        del key
        with tempfile.TemporaryDirectory(prefix="sbd-image-") as tmp:
            tree = Path(tmp)
            deploy.build_bundle(tree, arch=arch or config.mpy_arch)
            rec = tree / ".sbd" / "factory" / "identity.bin"
            rec.parent.mkdir(parents=True)
            rec.write_bytes(record)
            img = fsimage.build_image(tree, config)
        write_atomic(out_path, img)
        data = labels.LabelData(product.model, start.board.serial, password, wifi_ssid=product.setup_ssid)
        outcome.labels = [
            str(p) for p in labels.write_labels(opts.labels_dir, data, opts.stock, formats=opts.label_formats)
        ]
        sealed = (
            escrow.seal(password, opts.escrow_key, serial=start.board.serial, unique_id=uid)
            if opts.escrow_key is not None
            else None
        )
        factorydb.finish_provisioning(
            db, uid, escrow=sealed, sdk_version=__version__, firmware_version=firmware_version
        )
    except BaseException as e:
        try:
            factorydb.fail_provisioning(db, uid, (str(e) or type(e).__name__)[:200])
        except SbdError:
            pass
        raise
    outcome.ok = True
    if opts.keep_password:
        outcome.password = password
    return outcome
