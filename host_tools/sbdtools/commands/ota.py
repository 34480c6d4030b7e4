"""`sbd ota`: publish signed app updates as a TUF repository."""

from __future__ import annotations

import functools
import http.server
import json
import re
import shlex
import tempfile
import urllib.parse
from pathlib import Path
from typing import BinaryIO

import click

from .. import boards, deploy, ota, ota_publish, ota_push, ota_verify
from ..flash import firmware
from .keys import passphrase


@click.group("ota")
def cli() -> None:
    """Signed updates: a TUF repository made with python-tuf (docs/ota.md)."""


_PUB = click.Path(exists=True, dir_okay=False, path_type=Path)


def _keys(paths: tuple[Path, ...]) -> list[ota.SSlibKey]:
    return [ota.load_public(p) for p in paths]


@cli.command("init")
@click.argument("repo", type=click.Path(file_okay=False, path_type=Path))
@click.option("--root-key", "root", multiple=True, required=True, type=_PUB)
@click.option("--root-threshold", default=1, show_default=True)
@click.option("--targets-key", "targets", multiple=True, required=True, type=_PUB)
@click.option("--snapshot-key", "snapshot", multiple=True, required=True, type=_PUB)
@click.option(
    "--timestamp-key", "timestamp", multiple=True, required=True, type=click.Path(exists=True, path_type=Path)
)
@click.option(
    "--consistent-snapshot",
    is_flag=True,
    help="versioned metadata and hash-named target files: every state a client fetches is whole, even mid-publish",
)
def init(
    repo: Path,
    root: tuple[Path, ...],
    root_threshold: int,
    targets: tuple[Path, ...],
    snapshot: tuple[Path, ...],
    timestamp: tuple[Path, ...],
    consistent_snapshot: bool,
) -> None:
    """Make a repository naming the public keys (.pub files) of each role.

    Root version 1 and empty targets are staged (REPO/staging/): sign every
    role (sbd ota sign), then `sbd ota publish REPO`, and pin the published
    metadata/1.root.json in the devices (sbd provision --trust-root).

    With --consistent-snapshot (TUF's consistent snapshots) a client
    fetches snapshot and targets metadata by version and target files by
    hash, so a publish never changes a file a client may be reading, and
    a publish cut short leaves a state devices take.  Without it,
    snapshot.json and targets.json are replaced in place: a client
    fetching between two of publish's renames refuses the mix (and keeps
    what it has) until its next refresh.
    """
    keys = {"root": _keys(root), "targets": _keys(targets), "snapshot": _keys(snapshot), "timestamp": _keys(timestamp)}
    ota.init_repo(repo, keys, {"root": root_threshold}, consistent_snapshot=consistent_snapshot)
    click.echo(f"{repo}: repository staged; sign every role (sbd ota sign), then sbd ota publish {repo}")


@cli.command("add")
@click.argument("repo", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("appdir", required=False, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--board", required=True, help="board config name, e.g. pico_w")
@click.option("--product", required=True, help="product name: 1-64 of A-Z a-z 0-9 _ . -, not starting with .")
@click.option("--version", "version", required=True, help="the version people see, e.g. 1.4.0")
@click.option("--release", type=int, default=None, help="release number (default: the newest + 1)")
@click.option("--floor", type=int, default=0, help="security floor: devices refuse releases below it afterwards")
@click.option(
    "--with-sdk",
    is_flag=True,
    help="also carry the SDK (sdk/sbd as .mpy under lib/sbd/, all but the boot stage sbd/boot)",
)
@click.option(
    "--firmware",
    "firmware_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="instead of APPDIR: an ESP32 MicroPython app image (.app-bin) for the next app partition",
)
@click.option(
    "--allow-list",
    "allow_list",
    envvar="SBD_FIRMWARE_ALLOW",
    type=click.Path(dir_okay=False, path_type=Path),
    help="with --firmware: the firmware must be on this allow-list (as for sbd flash; env SBD_FIRMWARE_ALLOW)",
)
def add(
    repo: Path,
    appdir: Path | None,
    board: str,
    product: str,
    version: str,
    release: int | None,
    floor: int,
    with_sdk: bool,
    firmware_path: Path | None,
    allow_list: Path | None,
) -> None:
    """Compile APPDIR for BOARD with mpy-cross and add it as a release, or
    add an ESP32 firmware image (--firmware) as a release.

    The release is staged (REPO/staging/), never served as it is: sign
    targets, snapshot and timestamp, then `sbd ota publish REPO`.

    main.py and boot.py stay source, modules become .mpy under lib/ (as
    `sbd deploy` does); each file is a target at
    <product>/<board>/<release>/<path>.  With --with-sdk the SDK's modules
    are targets too (lib/sbd/...), compiled for the same architecture, all
    but those that never run from a slot: the boot stage (sbd.boot) and
    what it has imported from /lib before it switches to the slot's SDK
    (the package sbd itself, sbd._fs, sbd.events, sbd.privacy).

    A release that would take targets.json past what a device takes (128
    targets, 32 KiB) is refused before anything is written: remove old
    releases first (sbd ota prune REPO --keep 1).  A warning comes one
    release earlier, when the next release like this one would not fit.

    With --firmware FILE the release is one target,
    <product>/<board>/<release>/firmware.bin, of kind "firmware": the
    device writes it into its next app partition and boots it on trial
    (sbd.ota.firmware).  FILE must be the app image alone (MicroPython's
    .app-bin, not the full .bin `sbd flash` writes) for the board's chip,
    whole (checksum, appended SHA-256, app description), no larger than
    the board's app partition, and on --allow-list when one is given.
    RP2 boards have no app partitions and are refused.  Nothing is written
    unless every check passes.

    \b
    sbd ota add repo examples/minimal --board pico_w --product acme-sensor --version 1.0.0
    sbd ota add repo --firmware ESP32_GENERIC-v1.24.0.app-bin --board esp32 --product acme-sensor \\
        --version 1.0.0-mp1.24 --allow-list firmware-allow.txt
    """
    cfg = boards.load(board)
    before = ota.targets_footprint(ota.load_current(repo))
    if firmware_path is not None:
        if appdir is not None or with_sdk:
            raise click.UsageError("--firmware makes a release of one firmware image: give no APPDIR or --with-sdk")
        data = firmware.read_firmware(firmware_path)
        n, img = ota.add_firmware_release(
            repo,
            data,
            product=product,
            board=cfg,
            version=version,
            release=release,
            floor=floor,
            source=str(firmware_path),
            allow_list=allow_list,
        )
        what = f"{img.project} {img.version}".strip()
        click.echo(
            f"{repo}: release {n}: firmware for {cfg.name} ({what}, {img.length} bytes, SHA-256 {img.sha256[:16]}…) "
            f"staged; sign targets, snapshot and timestamp, then sbd ota publish {repo}"
        )
        _warn_room(repo, before)
        return
    if appdir is None:
        raise click.UsageError("give APPDIR (an app release) or --firmware FILE (an ESP32 firmware release)")
    with tempfile.TemporaryDirectory(prefix="sbd-ota-") as tmp:
        out = Path(tmp) / "app"
        names = deploy.build_bundle(out, arch=cfg.mpy_arch, app=appdir, with_sdk=with_sdk)
        files = {n: (out / n).read_bytes() for n in names if n not in ota.NOT_FROM_SLOT + ota.BOOT_STAGE}
    n = ota.add_release(repo, files, product=product, board=board, version=version, release=release, floor=floor)
    sdk = sum(1 for f in files if f.startswith("lib/sbd/"))
    extra = f", {sdk} of them the SDK" if sdk else ""
    click.echo(
        f"{repo}: release {n} ({len(files)} files{extra}) staged; "
        f"sign targets, snapshot and timestamp, then sbd ota publish {repo}"
    )
    _warn_room(repo, before)


def _warn_room(repo: Path, before: tuple[int, int]) -> None:
    """Warn when one more release like the one just added would take the
    targets metadata past what a device takes (add would refuse it)."""
    count, size = ota.targets_footprint(ota.load_current(repo))
    more, grow = count - before[0], size - before[1]
    if count + more > ota.DEVICE_MAX_TARGETS or size + grow > ota.DEVICE_MAX_TARGETS_BYTES:
        click.echo(
            f"warning: targets metadata now holds {count} targets in about {size} bytes; one more release like "
            f"this one would pass what a device takes ({ota.DEVICE_MAX_TARGETS} targets, "
            f"{ota.DEVICE_MAX_TARGETS_BYTES} bytes): run `sbd ota prune {repo} --keep 1` before the next",
            err=True,
        )


@cli.command("sign")
@click.argument("repo", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--role", required=True, type=click.Choice(ota.ROLES))
@click.option("--key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="encrypted key file")
@click.option("--signer", help="external signer command: payload on stdin, signature on stdout")
@click.option("--public", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="the signer's .pub file")
def sign(repo: Path, role: str, key: Path | None, signer: str | None, public: Path | None) -> None:
    """Sign ROLE of the staged state with a key file or an external signer
    (HSM, KMS, offline machine); `sbd ota publish` serves it once complete.

    Prints what the staged state changes against the published one (root
    version, keys and thresholds; releases and target files added, removed
    or changed) and its digest: read them before you trust the signature.
    Whoever can write REPO/staging/ decides what you sign; `sbd ota verify
    --staged` prints the same digest for the same staged state."""
    s: ota.Signer
    if key is not None and signer is None:
        s = ota.load_signer(key, passphrase())
    elif signer is not None and key is None and public is not None:
        s = ota.CommandSigner(shlex.split(signer), ota.load_public(public))
    else:
        raise click.UsageError("give --key FILE, or --signer CMD with --public FILE.pub")
    r = ota.sign_staged(repo, role, s)
    click.echo(f"{repo}: signed {role}; the staged state against the published one:")
    for line in r.changes:
        click.echo(f"  {line}")
    click.echo(f"{repo}: staged state digest {r.digest}")
    click.echo(f"{repo}: {role} has {r.signatures} signature(s)")


@cli.command("timestamp")
@click.argument("repo", type=click.Path(file_okay=False, exists=True, path_type=Path))
def timestamp(repo: Path) -> None:
    """Stage a new timestamp version (then sign it and publish): devices
    refuse an expired one."""
    ota.timestamp_again(repo)


def _signers(files: tuple[Path, ...]) -> list[ota.Signer]:
    out: list[ota.Signer] = []
    for f in files:
        out.append(ota.load_signer(f, passphrase(prompt=f"passphrase of {f}")))
    return out


_REPO = click.Path(file_okay=False, exists=True, path_type=Path)
_KEYFILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@cli.command("rotate-root")
@click.argument("repo", type=_REPO)
@click.option("--new-key", "new", multiple=True, type=_PUB, help="a new root key (.pub); repeat for several")
@click.option("--remove-key", "remove", multiple=True, metavar="PUB|KEYID", help="a root key to drop; repeatable")
@click.option("--threshold", type=int, default=None, help="root signatures needed from now on (default: unchanged)")
@click.option(
    "--sign", "sign_with", multiple=True, type=_KEYFILE, help="a root key file (old or new) to sign with; repeatable"
)
def rotate_root(
    repo: Path, new: tuple[Path, ...], remove: tuple[str, ...], threshold: int | None, sign_with: tuple[Path, ...]
) -> None:
    """Publish root version N+1 with new root keys.

    TUF's rule: the new root must be signed by a threshold of the OLD root
    keys and by a threshold of its OWN, so a device pinned to any earlier
    root walks the chain (1.root.json, 2.root.json, ...) to it, and a root
    made with stolen new keys alone is refused.  Sign now with --sign (old
    and new key files), or later with `sbd ota sign --role root`.  The new
    root is staged: `sbd ota publish REPO` serves it once it is signed.

    \b
    sbd ota rotate-root repo --new-key keys/root2.key.pub --remove-key keys/root.key.pub \\
        --sign keys/root.key --sign keys/root2.key
    """
    cur = ota.load_current(repo).root.signed.roles["root"].keyids
    removed = [ota.resolve_keyid(k, cur) for k in remove]
    lines = ota.change_keys(
        repo, "root", add=_keys(new), remove=removed, threshold=threshold, signers=_signers(sign_with)
    )
    for line in lines:
        click.echo(f"{repo}: {line}")


@cli.command("revoke")
@click.argument("repo", type=_REPO)
@click.option("--role", required=True, type=click.Choice(ota.ROLES), help="the role whose key is compromised")
@click.option("--key", "key", required=True, metavar="PUB|KEYID", help="the compromised key: .pub file or key id")
@click.option("--new-key", "new", multiple=True, type=_PUB, help="its replacement (.pub); repeatable")
@click.option("--threshold", type=int, default=None, help="signatures the role needs from now on")
@click.option(
    "--sign", "sign_with", multiple=True, type=_KEYFILE, help="a key file to sign with (root, and the new role key)"
)
def revoke(
    repo: Path, role: str, key: str, new: tuple[Path, ...], threshold: int | None, sign_with: tuple[Path, ...]
) -> None:
    """Replace a compromised key of ROLE.

    Publishes root version N+1 without the key (and with --new-key), and
    bumps what the role signed so it is signed again by the keys it has now:
    targets -> targets, snapshot, timestamp; snapshot -> snapshot,
    timestamp; timestamp -> timestamp.  Devices take the new root on their
    next refresh and from then on refuse anything the revoked key signs.
    --sign signs every changed role the key file belongs to (root needs its
    old and new threshold); or sign later with `sbd ota sign`.  All of it
    is staged: `sbd ota publish REPO` serves it once it is signed.

    \b
    sbd ota revoke repo --role targets --key keys/targets.key.pub \\
        --new-key keys/targets2.key.pub --sign keys/root.key --sign keys/targets2.key
    """
    cur = ota.load_current(repo).root.signed.roles[role].keyids
    keyid = ota.resolve_keyid(key, cur)
    lines = ota.change_keys(
        repo, role, add=_keys(new), remove=[keyid], threshold=threshold, signers=_signers(sign_with)
    )
    click.echo(f"{repo}: {role} key {keyid[:16]}… revoked")
    for line in lines:
        click.echo(f"{repo}: {line}")


UNPINNED_WARNING = (
    "warning: no --trusted-root: trusting the repository's own metadata/1.root.json. This checks that the "
    "repository is consistent with itself, not that it is the repository your devices trust: whoever can write "
    "the repository can replace that file too. Pass the root your devices pin (the file whose SHA-256 you gave "
    "`sbd provision --trust-root`, kept apart from the repository) with --trusted-root FILE."
)


@cli.command("verify")
@click.argument("repo", type=_REPO)
@click.option("--board", help="judge as a device of this board (default: every board the releases name)")
@click.option(
    "--trusted-root",
    type=_KEYFILE,
    help="the root your devices pin (default, with a warning: the repository's own metadata/1.root.json)",
)
@click.option("--now", help="the device's trusted time, ISO 8601 UTC (default: this machine's clock)")
@click.option("--staged", is_flag=True, help="judge the staged state (what `sbd ota publish` would serve)")
@click.option("--no-ngclient", is_flag=True, help="skip the cross-check with python-tuf's ngclient")
@click.option("--json", "as_json", is_flag=True, help="print the verdict as JSON")
@click.pass_context
def verify(
    ctx: click.Context,
    repo: Path,
    board: str | None,
    trusted_root: Path | None,
    now: str | None,
    staged: bool,
    no_ngclient: bool,
    as_json: bool,
) -> None:
    """What a device would decide about REPO.

    Runs the device's own verifier (sdk/sbd/ota, the code the boards run)
    from the pinned root, as a fresh device would: root rotations,
    timestamp, snapshot, targets, every target's length and SHA-256, then
    sbd's release checks against the board (product, board, one release
    number, floor, paths).  python-tuf's ngclient judges the same files at
    the same time as a cross-check.

    Without --trusted-root the repository's own metadata/1.root.json is
    trusted (a warning says so): that shows the repository agrees with
    itself, not that it is the one your devices trust.  Give the root they
    pin, kept apart from the repository.

    The published state is judged (what `sbd ota serve` serves); --staged
    judges the staged one instead (what `sbd ota publish` would serve).

    Exit status: 0 when the device accepts everything, 1 when it refuses
    anything (metadata or a target of any release), 3 when the device and
    ngclient disagree.
    """
    if board is not None:
        boards.load(board)  # an unknown board name is a usage error, not "no releases"
    if not staged and not (repo / "metadata").is_dir() and ota.has_staged(repo):
        raise click.ClickException(f"{repo}: nothing published yet: judge the staged state with --staged")
    if trusted_root is None:
        click.echo(UNPINNED_WARNING, err=True)
    when = ota_verify.parse_now(now) if now else None
    if staged:
        v = ota_publish.verify_staged(
            repo, trusted_root=trusted_root, board=board, now=when, cross_check=not no_ngclient
        )
    else:
        v = ota_verify.verify(repo, trusted_root=trusted_root, board=board, now=when, cross_check=not no_ngclient)
    if as_json:
        click.echo(json.dumps(v.to_dict(), indent=1))
    else:
        _print_verdict(v)
    ctx.exit(3 if v.disagreements else 1 if v.refused else 0)


def _print_verdict(v: ota_verify.Verdict) -> None:
    click.echo(f"{v.repo}: as a device pinned to {v.trusted_root}, at {v.now}")
    if v.metadata == "accepted":
        roles = ", ".join(f"{r} v{d['version']} (expires {d['expires']})" for r, d in v.roles.items())
        click.echo(f"  metadata: accepted: {roles}")
    else:
        click.echo(f"  metadata: REFUSED ({v.metadata}): {v.detail}; a device installs nothing")
    if v.ngclient is not None:
        click.echo(f"  ngclient: {v.ngclient}")
    head = None
    for t in v.targets:
        key = (t.product, t.board, t.release)
        if key != head:
            head = key
            if t.product is None:
                click.echo("  not in any sbd release:")
            else:
                mark = ", the newest: a fresh device installs it" if t.newest else ""
                ver = f" ({t.version})" if t.version else ""
                click.echo(f"  {t.product} for {t.board}, release {t.release}{ver}{mark}:")
        what = "accepted" if t.device == "accepted" else f"REFUSED ({t.device}: {t.detail})"
        click.echo(f"    {what}  {t.path}")
    for p in v.problems:
        click.echo(f"  REFUSED: {p}")
    for d in v.disagreements:
        click.echo(f"  DISAGREEMENT between the device and ngclient: {d}", err=True)
    if v.digest is not None:
        click.echo(f"  staged state digest {v.digest} (sbd ota sign prints it for what it signs)")


@cli.command("push")
@click.argument("repo", type=_REPO)
@click.option("--vboard", "vboard_name", metavar="NAME", help="a virtual board")
@click.option("--port", metavar="DEV", help="serial port of a real board (e.g. /dev/ttyACM0)")
@click.option("--board", help="board type of --port (a virtual board knows its own)")
@click.option("--product", help="the product to install (default: the only one with a release for the board)")
@click.option(
    "--trusted-root",
    type=_KEYFILE,
    help="the root you vouch for, for a board that trusts none yet and has no pin in its factory record",
)
@click.option("--now", help="the trusted time to give the board, ISO 8601 UTC (default: this machine's clock)")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@click.pass_context
def push(
    ctx: click.Context,
    repo: Path,
    vboard_name: str | None,
    port: str | None,
    board: str | None,
    product: str | None,
    trusted_root: Path | None,
    now: str | None,
    as_json: bool,
) -> None:
    """Install the newest release from REPO over the serial line.

    Copies the repository's metadata and the newest release's files for
    the board to /.sbd/push/ on the board, then runs the board's own update
    client on them (sbd.ota.client.DirFetcher): the board verifies it all
    itself, from the root it already trusts or the one its factory record
    pins, and installs into the slot that is not running, on trial.  The
    copy is removed afterwards.  Reboot the board to boot the release; the
    app confirms it with sbd.boot.confirm(), or it rolls back.

    Exit status 1 when the board refuses (the reason is printed).

    \b
    sbd ota push repo --vboard b1
    sbd ota push repo --port /dev/ttyACM0 --board pico_w --product acme-sensor
    """
    from .. import station

    if (port is None) == (vboard_name is None):
        raise click.UsageError("give either --port (a real board) or --vboard (a virtual board)")
    if port is not None and board is None:
        raise click.UsageError("--port needs --board (which releases are for it)")
    when = ota_verify.parse_now(now) if now else None
    link = station.VBoardLink(vboard_name) if vboard_name is not None else station.serial_link(port or "", board or "")
    try:
        r = ota_push.push(
            link, repo, board=board or link.config.name, product=product, trusted_root=trusted_root, now=when
        )
    finally:
        link.close()
    if as_json:
        click.echo(ota_push.result_json(r))
    elif r.refused is None:
        click.echo(f"{link.name}: release {r.installed} ({r.version}) installed on trial; reboot to boot it")
    else:
        click.echo(f"{link.name}: REFUSED ({r.refused}): {r.detail}; the running release stays")
    ctx.exit(0 if r.refused is None else 1)


class RepoHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a repository's published state only: files under metadata/
    and targets/ (never staging/, nor anything else in the folder)."""

    def send_head(self):  # type: ignore[no-untyped-def]
        path = urllib.parse.unquote(self.path.split("?", 1)[0].split("#", 1)[0])
        parts = path.split("/")
        if (
            len(parts) < 3
            or parts[0] != ""
            or parts[1] not in ("metadata", "targets")
            or any(p in ("", ".", "..") or p.startswith(".") or "\x00" in p for p in parts[2:])
            or not self._inside(parts[1])
        ):
            self.send_error(404, "File not found")
            return None
        want = self.headers.get("Range")
        if want is None:
            return super().send_head()
        return self._send_range(want)

    # An idle or dripping client is dropped after this long (a thread each).
    timeout = 30

    def _inside(self, top: str) -> bool:
        # Symbolic links are followed only where they stay inside the
        # published folder the request names.
        try:
            local = Path(self.translate_path(self.path)).resolve()
            return local.is_relative_to((Path(self.directory) / top).resolve())
        except (OSError, ValueError):
            return False

    def _send_range(self, want: str):  # type: ignore[no-untyped-def]
        # One range, "bytes=N-" or "bytes=N-M" (what a device resuming a
        # download sends, RFC 9110 14.1.2); anything else gets the whole file
        # (a server may ignore Range; the device then starts over).
        local = Path(self.translate_path(self.path))
        m = _RANGE.fullmatch(want.strip())
        if m is None or not local.is_file():
            return super().send_head()
        size = local.stat().st_size
        first = int(m.group(1))
        last = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
        if m.group(2) and int(m.group(2)) < first:  # not a valid range (RFC 9110 14.1.1): ignored
            return super().send_head()
        if first >= size:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        f = local.open("rb")
        f.seek(first)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(local)))
        self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return _Slice(f, last - first + 1)


_RANGE = re.compile(r"bytes=(\d{1,15})-(\d{1,15})?")


class _Slice:
    """The part of an open file a 206 promised: copyfile reads to EOF."""

    def __init__(self, f: BinaryIO, n: int) -> None:
        self.f, self.left = f, n

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        data = self.f.read(self.left if n < 0 else min(n, self.left))
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.f.close()


@cli.command("publish")
@click.argument("repo", type=_REPO)
@click.option(
    "--trusted-root",
    type=_KEYFILE,
    help="the root your devices pin (default: the published metadata/1.root.json; at the first publish the staged one)",
)
@click.option("--now", help="the time to judge expiry at, ISO 8601 UTC (default: this machine's clock)")
@click.option("--no-ngclient", is_flag=True, help="skip the cross-check with python-tuf's ngclient")
@click.pass_context
def publish(ctx: click.Context, repo: Path, trusted_root: Path | None, now: str | None, no_ngclient: bool) -> None:
    """Serve the staged state: check it as a device would, then move it
    into REPO/metadata and REPO/targets.

    The staged state is untrusted until verified: a symbolic link or other
    non-regular file under REPO/staging, a metadata file publish does not
    serve, or a target path a device would not install, and nothing is
    read for it.  It must follow on from the published one (published root
    versions unchanged, no version going back, no published file changed)
    and the device's own verifier (`sbd ota verify`, from the trusted root)
    must accept all of it; else nothing is published and the reason is
    printed (exit status 1).  Then files are written one by one, each
    atomically: target files, targets and snapshot metadata, new root
    versions, timestamp.json last, so a client only ever finds names
    whose files exist; target files no longer named (sbd ota prune) are
    removed, then the staged state.  If it is cut short, run it again:
    it finishes the job.

    \b
    sbd ota publish repo [--trusted-root pinned-root.json]
    """
    when = ota_verify.parse_now(now) if now else None
    try:
        r = ota_publish.publish(repo, trusted_root=trusted_root, now=when, cross_check=not no_ngclient)
    except ota_publish.PublishRefused as e:
        if e.verdict is not None:
            _print_verdict(e.verdict)
        click.echo(f"Error: {e}", err=True)
        ctx.exit(1)
    roles = ", ".join(f"{k} v{d['version']}" for k, d in r.verdict.roles.items())
    if r.first:
        click.echo(f"{repo}: first publish; devices pin {repo / 'metadata' / '1.root.json'}")
    click.echo(f"{repo}: published {roles} ({len(r.written)} file(s) written, {len(r.removed)} removed)")


@cli.command("prune")
@click.argument("repo", type=_REPO)
@click.option("--keep", type=int, required=True, help="releases to keep per product and board (at least 1)")
@click.option("--dry-run", is_flag=True, help="say what would go; change nothing")
def prune(repo: Path, keep: int, dry_run: bool) -> None:
    """Remove old releases from the targets metadata.

    For every product and board, keeps the newest KEEP releases and
    removes the others' targets, whatever their --floor (a device installs
    only the newest release; a target naming several boards goes only when
    no board keeps its release).  The change is staged: sign targets, snapshot and
    timestamp, then `sbd ota publish REPO`, which also deletes the files no
    longer named.  A device takes at most 128 targets in 32 KiB of
    targets.json, which two releases carrying the SDK nearly fill.

    \b
    sbd ota prune repo --keep 1
    """
    gone = ota.prune_releases(repo, keep, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for p in gone:
        click.echo(f"{repo}: {verb} {p.product} release {p.release} for {', '.join(p.boards)} ({p.targets} targets)")
    if not gone:
        click.echo(f"{repo}: nothing to prune")
    elif not dry_run:
        click.echo(f"{repo}: staged; sign targets, snapshot and timestamp, then sbd ota publish {repo}")


@cli.command("serve")
@click.argument("repo", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True)
def serve(repo: Path, host: str, port: int) -> None:
    """Serve REPO's published state over HTTP (metadata/ and targets/ only,
    never the staged state; for tests and small fleets; use any static host
    in production, and copy only metadata/ and targets/ to it).  Range
    requests (`bytes=N-`, `bytes=N-M`) get a 206, so a device resumes an
    interrupted download where it stopped."""
    if not (repo / "metadata").is_dir():
        raise click.ClickException(f"{repo}: nothing published yet (sbd ota publish)")
    handler = functools.partial(RepoHandler, directory=str(repo))
    with http.server.ThreadingHTTPServer((host, port), handler) as srv:
        click.echo(f"serving {repo} on http://{host}:{srv.server_address[1]}/")
        srv.serve_forever()
