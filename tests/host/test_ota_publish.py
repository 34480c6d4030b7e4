"""The staged state and `sbd ota publish`: changes go to REPO/staging/, the
served folders change only to a state the device's own verifier accepted,
in an order that leaves a complete state after a crash at any write (with
consistent snapshots), and `sbd ota serve` serves the published state only."""

from __future__ import annotations

import functools
import http.client
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from ota_staged import NOW, ROLES, StagedRepos, served
from sbd_cli import sbd_ota_serve

from harness import devscript
from sbdtools import ota, ota_publish, ota_verify
from sbdtools.commands.ota import RepoHandler

_REPOS = StagedRepos(b"publish-test ")
signer, add, new_repo = _REPOS.signer, _REPOS.add, _REPOS.new_repo


def judged(path: Path) -> tuple[str, set[int]]:
    """The device's verdict on what is served: ("accepted", the releases
    whose every target it accepted) or (its reason, {})."""
    v = ota_verify.verify(path, now=NOW, board="pico_w", cross_check=False)
    if v.metadata != "accepted":
        return v.metadata, set()
    assert not v.problems and all(t.device == "accepted" for t in v.targets), v
    return "accepted", {t.release for t in v.targets if t.release is not None}


def test_changes_are_staged_until_published(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    pub = {r: [signer(r).public_key] for r in ROLES}
    ota.init_repo(repo, pub, {})  # type: ignore[arg-type]
    assert not (repo / "metadata").exists() and ota.has_staged(repo)
    with pytest.raises(ota_publish.PublishRefused) as e:
        ota_publish.publish(repo, now=NOW)  # nothing signed
    assert e.value.verdict is not None and e.value.verdict.metadata == "signature"
    assert not (repo / "metadata").exists()
    add(repo, 1, sign_root=True)
    r = ota_publish.publish(repo, now=NOW)
    assert r.first and r.written[-1] == "metadata/timestamp.json" and not ota.has_staged(repo)
    assert judged(repo) == ("accepted", {1})
    # Release 2 staged: nothing served changes until it is signed and published.
    before = served(repo)
    ota.add_release(repo, {"main.py": b"print(2)\n"}, product="acme", board="pico_w", version="2.0")
    assert served(repo) == before and judged(repo) == ("accepted", {1})
    with pytest.raises(ota_publish.PublishRefused):
        ota_publish.publish(repo, now=NOW)
    assert served(repo) == before and ota.has_staged(repo)
    v = ota_publish.verify_staged(repo, now=NOW, cross_check=False)
    assert v.metadata == "signature" and v.repo == str(repo / "staging")
    for role in ROLES[1:]:
        ota.sign_role(repo, role, signer(role))
    assert served(repo) == before
    ota_publish.publish(repo, now=NOW)
    assert judged(repo) == ("accepted", {1, 2})
    with pytest.raises(ota.OtaError, match="nothing staged"):
        ota_publish.publish(repo, now=NOW)
    # A new timestamp only (what a publisher does before the old one expires).
    ts = ota.Repo.load(repo).timestamp.signed.version
    ota.timestamp_again(repo)
    ota.sign_role(repo, "timestamp", signer("timestamp"))
    r = ota_publish.publish(repo, now=NOW)
    assert r.written == ["metadata/timestamp.json"] and ota.Repo.load(repo).timestamp.signed.version == ts + 1


def test_publish_refuses_what_cannot_follow_the_published_state(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    before = served(repo)
    # A staged root v1 other than the published one (devices pinned it).
    add(repo, 2)
    st = repo / "staging" / "metadata"
    good_root = (st / "1.root.json").read_bytes()
    (st / "1.root.json").write_bytes(good_root.replace(b'"version":1', b'"version":1 '))
    with pytest.raises(ota_publish.PublishRefused, match=r"1\.root\.json is published"):
        ota_publish.publish(repo, now=NOW)
    (st / "1.root.json").write_bytes(good_root)
    # A timestamp version going back.
    ts = (st / "timestamp.json").read_bytes()
    old = ota.Repo.load(repo)
    staged = ota.Repo.load(repo / "staging")
    staged.timestamp.signed.version = old.timestamp.signed.version - 1
    staged.sign("timestamp", [signer("timestamp")])
    (st / "timestamp.json").write_bytes(ota.compact(staged.timestamp))
    with pytest.raises(ota_publish.PublishRefused, match="older than the published"):
        ota_publish.publish(repo, now=NOW)
    (st / "timestamp.json").write_bytes(ts)
    # A published target file with other bytes under the same name.
    (repo / "staging" / "targets" / "acme/pico_w/1").mkdir(parents=True)
    (repo / "staging" / "targets" / "acme/pico_w/1/main.py").write_bytes(b"print('other')\n")
    with pytest.raises(ota_publish.PublishRefused, match="other bytes under the same name"):
        ota_publish.publish(repo, now=NOW)
    assert served(repo) == before
    (repo / "staging" / "targets" / "acme/pico_w/1/main.py").unlink()
    ota_publish.publish(repo, now=NOW)
    assert judged(repo) == ("accepted", {1, 2})


class _Cut(Exception):
    pass


@pytest.mark.parametrize("consistent", [True, False], ids=["consistent-snapshot", "in-place"])
def test_a_publish_cut_at_every_write_leaves_a_state_devices_take(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, consistent: bool
) -> None:
    # Release 2 staged and signed over a published release 1; publish is cut
    # after each of its writes in turn.  With consistent snapshots what is
    # served is always a whole state a device takes (release 1 or release
    # 2); in place, a device may refuse the mix (never accept part of it)
    # until publish runs again.  Run again, publish always finishes.
    base = new_repo(tmp_path / "base", consistent=consistent)
    add(base, 2)
    real_put = ota_publish._put
    cut = 0
    while True:
        cut += 1
        repo = tmp_path / f"cut{cut}"
        shutil.copytree(base, repo)
        writes = 0

        def put(src: Path, dest: Path, cut: int = cut) -> bool:
            nonlocal writes
            if writes == cut:
                raise _Cut
            wrote = real_put(src, dest)
            writes += wrote
            return wrote

        monkeypatch.setattr(ota_publish, "_put", put)
        try:
            ota_publish.publish(repo, now=NOW)
            finished = True
        except _Cut:
            finished = False
        monkeypatch.setattr(ota_publish, "_put", real_put)
        verdict, releases = judged(repo)
        if consistent or finished:
            assert verdict == "accepted" and releases in ({1}, {1, 2}), (cut, verdict, releases)
        else:
            assert (verdict, releases) in (("accepted", {1}), ("accepted", {1, 2})) or not releases, (cut, verdict)
        if finished:
            break
        assert ota.has_staged(repo)
        ota_publish.publish(repo, now=NOW)
        assert judged(repo) == ("accepted", {1, 2}) and not ota.has_staged(repo)
    # Every write was a cut point: the target files, the metadata, timestamp last.
    assert cut >= 5, cut


def test_prune_then_publish_deletes_the_files(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo", consistent=True)
    for n in (2, 3):
        add(repo, n)
        ota_publish.publish(repo, now=NOW)
    assert judged(repo) == ("accepted", {1, 2, 3})
    assert [(p.product, p.release) for p in ota.prune_releases(repo, 2, dry_run=True)] == [("acme", 1)]
    assert not ota.has_staged(repo)  # a dry run writes nothing
    gone = ota.prune_releases(repo, 1)
    assert [(p.release, p.targets) for p in gone] == [(1, 2), (2, 2)]
    assert judged(repo) == ("accepted", {1, 2, 3})  # staged only
    for role in ROLES[1:]:
        ota.sign_role(repo, role, signer(role))
    r = ota_publish.publish(repo, now=NOW)
    assert judged(repo) == ("accepted", {3})
    # Both names of each pruned target (path and <sha256>.name) are gone.
    assert sorted(r.removed) and all("/3/" not in p for p in r.removed) and len(r.removed) == 8, r.removed
    assert not (repo / "targets" / "acme" / "pico_w" / "1").exists()
    assert (repo / "targets" / "acme" / "pico_w" / "3" / "main.py").is_file()
    assert ota.prune_releases(repo, 1) == []


def test_prune_keeps_the_newest_whatever_the_floor(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    ota.add_release(repo, {"main.py": b"2"}, product="acme", board="pico_w", version="2.0", floor=2)
    ota.add_release(repo, {"main.py": b"3"}, product="acme", board="pico_w", version="3.0", floor=2)
    ota.add_release(repo, {"main.py": b"1"}, product="other", board="pico_w", version="1.0")
    ota.add_release(repo, {"main.py": b"1"}, product="acme", board="pico2_w", version="1.0")
    gone = ota.prune_releases(repo, 1)
    # acme/pico_w: 3 is the newest; 1 and 2 go although 2 is at the floor
    # in use (a device installs only the newest; review F6).  other and
    # acme/pico2_w have one release each: it stays.
    assert [(p.product, p.boards, p.release) for p in gone] == [("acme", ["pico_w"], 1), ("acme", ["pico_w"], 2)]
    with pytest.raises(ota.OtaError, match="at least 1"):
        ota.prune_releases(repo, 0)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    repo = new_repo(tmp_path / "repo")
    add(repo, 2)  # staged
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(RepoHandler, directory=str(repo)))
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield repo, int(srv.server_address[1])
    finally:
        srv.shutdown()
        srv.server_close()
        th.join(10)


def _get(port: int, path: str) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def test_serve_serves_the_published_state_only(server: tuple[Path, int]) -> None:
    repo, port = server
    assert _get(port, "/metadata/timestamp.json") == (200, (repo / "metadata" / "timestamp.json").read_bytes())
    assert _get(port, "/targets/acme/pico_w/1/main.py")[0] == 200
    (repo / ".publish-leftover").mkdir()
    (repo / "notes.txt").write_text("private\n")
    for path in (
        "/staging/metadata/timestamp.json",
        "/staging/targets/acme/pico_w/2/main.py",
        "/metadata/../staging/metadata/timestamp.json",
        "/metadata/%2e%2e/staging/metadata/timestamp.json",
        "/.publish-leftover/",
        "/notes.txt",
        "/",
        "/metadata/",
    ):
        assert _get(port, path)[0] == 404, path


DEVICE = """
from sbd import _fs, boot, ota
from sbd.ota import client, release, slots
from sbd.ota.http import HttpFetcher
_fs.STATE_DIR = STATE + "/state"
boot.APP_DIR = STATE + "/app"
root = open(ROOTFILE, "rb").read()
try:
    t = client.refresh(HttpFetcher("127.0.0.1", PORT, "/metadata/"), None, root)
    n = release.newest(t, "acme", "pico_w")
    if n > boot.installed()[0]:
        slots.install(t, release.release(t, "acme", "pico_w", n), HttpFetcher("127.0.0.1", PORT, "/targets/"))
    d = boot.select()
    print("BOOTS", open(d + "/main.py").read().strip())
    boot.confirm()
except ota.OtaError as e:
    print("REFUSED", e.reason)
"""


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_devices_update_over_http_from_the_published_state_only(runtime: str, tmp_path: Path) -> None:
    # `sbd ota serve` on a repository with release 1 published and release 2
    # staged (signed): the device (sbd.ota over HTTP, on the real MicroPython
    # unix port and on CPython) installs release 1; after `sbd ota publish`
    # the same device updates to release 2.
    repo = new_repo(tmp_path / "repo")
    add(repo, 2)
    with sbd_ota_serve(repo) as port:
        assert _get(port, "/staging/metadata/timestamp.json")[0] == 404
        state = tmp_path / "device"
        state.mkdir()
        head = f"STATE = {str(state)!r}\nROOTFILE = {str(repo / 'metadata' / '1.root.json')!r}\nPORT = {port}\n"
        mpy = devscript.compile_sdk(tmp_path / "mpy") if runtime == "micropython" else None

        def device() -> str:
            # 192K: this script keeps the client, the HTTP fetcher and the
            # installer loaded together (an app frees between them, as
            # examples/minimal does; test_ota_heap measures that path), and at
            # 160K it ran out now and then from fragmentation, not data.
            return devscript.run(runtime, head + DEVICE, heap="192K", mpy=mpy).strip().splitlines()[-1]

        assert device() == "BOOTS print(1)"
        ota_publish.publish(repo)
        assert device() == "BOOTS print(2)"


def test_one_command_at_a_time_and_a_cut_swap_of_the_staged_state(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    add(repo, 2)
    staged = {str(p.relative_to(repo)): p.read_bytes() for p in (repo / "staging").rglob("*") if p.is_file()}
    with ota.repo_lock(repo):
        with pytest.raises(ota.OtaError, match="another sbd ota command"):
            ota.sign_role(repo, "timestamp", signer("timestamp"))
        with pytest.raises(ota.OtaError, match="another sbd ota command"):
            ota_publish.publish(repo, now=NOW)
    # A change cut between its two renames (staging -> staging.old, then
    # staging.new -> staging): the next command finds the old staged state.
    (repo / "staging").rename(repo / "staging.old")
    (repo / "staging.new").mkdir()
    (repo / "staging.new" / "half").write_text("x")
    # verify --staged only reads (review F9): it recovers nothing and says so.
    with pytest.raises(ota.OtaError, match="cut short"):
        ota_publish.verify_staged(repo, now=NOW, cross_check=False)
    ota.load_current(repo)  # any changing command's lock recovers
    v = ota_publish.verify_staged(repo, now=NOW, cross_check=False)
    assert not v.refused, v
    assert {str(p.relative_to(repo)): p.read_bytes() for p in (repo / "staging").rglob("*") if p.is_file()} == staged
    assert not (repo / "staging.old").exists() and not (repo / "staging.new").exists()
    # A publish cut while removing the staged state it published: renamed
    # first, so what is left is never taken for a staged state.
    ota_publish.publish(repo, now=NOW)
    (repo / "staging.done" / "metadata").mkdir(parents=True)
    assert not ota.has_staged(repo)
    ota.timestamp_again(repo)
    assert not (repo / "staging.done").exists() and ota.has_staged(repo)
