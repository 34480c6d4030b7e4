"""Seeded random repository histories for the differential test of sbd.ota
against python-tuf's ngclient (tests/host/test_ota_random_differential.py).

A repository made with python-tuf's metadata API (sbdtools.ota.Repo)
evolves through random steps: new releases, root rotations with new keys
and thresholds, revocation of a role's key, re-signing of timestamp,
snapshot or targets, and the clock moving on (so metadata expires until it
is signed again).  Some steps are attacks served once over the current
state and then dropped (the repository is not changed by them): an older
version, a role signed by a key root does not list, an expired role, a root
short of its threshold, an old state replayed whole.

Each step is written out as a folder (metadata/, targets/) with the time
the clients judge expiry at and the targets they download.  ngclient runs
here, with its own trusted metadata carried from step to step as a device
would (its clock set to the step's time); the device client replays the
same folders in one process on MicroPython or CPython (its trusted state
likewise carried).  The same random.Random(seed) gives the same history.
"""

from __future__ import annotations

import copy
import hashlib
import random
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import ota_scenarios as sc
from securesystemslib.signer import CryptoSigner

from sbdtools.ota import Release, Repo, release_prefix, signer_from_seed

START = datetime(2026, 11, 30, tzinfo=timezone.utc)  # after sbd.trustedtime.FLOOR
ROLES = ("root", "timestamp", "snapshot", "targets")
DAYS = {"root": (60, 400), "targets": (10, 90), "snapshot": (5, 30), "timestamp": (1, 7)}
# Step kinds and their weights.  Valid steps change the repository; the
# attacks (below the line) are served once over a copy.
KINDS = {
    "release": 5,
    "timestamp": 3,
    "snapshot": 2,
    "targets": 2,
    "clock": 3,
    "rotate-root": 2,
    "revoke": 2,
    "attack-stale-version": 1,
    "attack-wrong-key": 1,
    "attack-expired": 1,
    "attack-root-threshold": 1,
    "attack-replay": 1,
}


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class History:
    """One seeded random history.  steps: (kind, time, folder files,
    downloads) in order."""

    def __init__(self, seed: int, n_steps: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = START
        self.n_keys = 0
        self.keys: dict[str, list[CryptoSigner]] = {
            "root": [self._key() for _ in range(self.rng.randint(1, 3))],
            "timestamp": [self._key()],
            "snapshot": [self._key()],
            "targets": [self._key()],
        }
        self.thresholds = {r: 1 for r in ROLES}
        self.thresholds["root"] = self.rng.randint(1, len(self.keys["root"]))
        self.repo = Repo.create(
            {r: [k.public_key for k in self.keys[r]] for r in ROLES},
            self.thresholds,
            now=self.now,
        )
        for r in ROLES:
            self.repo.md(r).signed.expires = self._expiry(r)
        self.burnt: dict[str, int] = {}
        self.release = 0
        self._add_release()
        self.repo.sign("root", self.keys["root"])
        self._sign_chain(bump=False)
        self.initial_root = self.repo.roots[1]
        self.history: list[dict[str, bytes]] = []
        self.steps: list[tuple[str, str, dict[str, bytes], list[str]]] = []
        self._record("start", self._files(self.repo))
        for _ in range(n_steps - 1):
            self._random_step()

    # -- helpers ----------------------------------------------------------

    def _key(self) -> CryptoSigner:
        self.n_keys += 1
        k: CryptoSigner = signer_from_seed(hashlib.sha256(b"sbd-ota-random:%d:%d" % (self.seed, self.n_keys)).digest())
        return k

    def _expiry(self, role: str) -> datetime:
        lo, hi = DAYS[role]
        return self.now + timedelta(days=self.rng.randint(lo, hi))

    def _add_release(self) -> None:
        self.release += 1
        n = self.release
        rel = Release(sc.PRODUCT, [sc.BOARD], n, f"1.{n}.0", 0)
        for path, data in sc.release_files(n).items():
            self.repo.add_target(release_prefix(sc.PRODUCT, sc.BOARD, n) + path, data, rel.custom())

    def _sign(self, repo: Repo, role: str, bump: bool, keys: list[CryptoSigner] | None = None) -> None:
        if bump:
            # Past any version an attack step signed with the role's own key
            # (a client may have taken it), as a repository would go on.
            md = repo.md(role).signed
            md.version = max(md.version, self.burnt.get(role, 0))
            repo.bump(role, expires=self._expiry(role))
        repo.sign(role, keys if keys is not None else self.keys[role])

    def _sign_chain(self, *, bump: bool, top: str = "targets", repo: Repo | None = None) -> None:
        # Sign `top` and everything above it (targets -> snapshot -> timestamp).
        r = repo or self.repo
        chain = ("targets", "snapshot", "timestamp")
        for role in chain[chain.index(top) :]:
            if role == "snapshot":
                r.link_snapshot()
            if role == "timestamp":
                r.link_timestamp()
            self._sign(r, role, bump)

    def _files(self, repo: Repo) -> dict[str, bytes]:
        with tempfile.TemporaryDirectory() as d:
            repo.publish(Path(d))
            return {str(p.relative_to(d)): p.read_bytes() for p in Path(d).rglob("*") if p.is_file()}

    def _record(self, kind: str, files: dict[str, bytes]) -> None:
        paths = [release_prefix(sc.PRODUCT, sc.BOARD, self.release) + p for p in sc.release_files(self.release)]
        self.steps.append((kind, iso(self.now), files, paths))
        if not kind.startswith("attack"):
            self.history.append(files)

    def _new_root(self, repo: Repo) -> None:
        repo.bump("root", expires=self._expiry("root"))

    # -- the steps ----------------------------------------------------------

    def _random_step(self) -> None:
        kind = self.rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
        rng = self.rng
        if kind == "release":
            self._add_release()
            self._sign_chain(bump=True)
        elif kind in ("timestamp", "snapshot", "targets"):
            self._sign_chain(bump=True, top=kind)
        elif kind == "clock":
            self.now += timedelta(days=rng.randint(1, 12), hours=rng.choice((0, 0, 6, 12)))
        elif kind == "rotate-root":
            old = self.keys["root"]
            old_t = self.thresholds["root"]
            keep = rng.sample(old, rng.randint(0, len(old) - 1)) if len(old) > 1 else []
            new = keep + [self._key() for _ in range(rng.randint(1, 3))]
            root = self.repo.root.signed
            for k in old:
                if k not in keep:
                    root.revoke_key(k.public_key.keyid, "root")
            for k in new:
                if k not in keep:
                    root.add_key(k.public_key, "root")
            t = rng.randint(1, len(new))
            root.roles["root"].threshold = t
            self._new_root(self.repo)
            # A threshold of the old keys and a threshold of the new (TUF 5.3.4).
            signers = {k.public_key.keyid: k for k in rng.sample(old, old_t) + rng.sample(new, t)}
            self.repo.sign("root", list(signers.values()))
            self.keys["root"] = new
            self.thresholds["root"] = t
        elif kind == "revoke":
            role = rng.choice(("timestamp", "snapshot", "targets"))
            gone = self.keys[role][0]
            fresh = self._key()
            root = self.repo.root.signed
            root.revoke_key(gone.public_key.keyid, role)
            root.add_key(fresh.public_key, role)
            self._new_root(self.repo)
            self.repo.sign("root", rng.sample(self.keys["root"], self.thresholds["root"]))
            self.keys[role] = [fresh]
            self._sign_chain(bump=True, top=role)
        else:
            self._record(kind, self._attack(kind))
            return
        self._record(kind, self._files(self.repo))

    def _attack(self, kind: str) -> dict[str, bytes]:
        rng = self.rng
        if kind == "attack-replay":
            return rng.choice(self.history)
        bad = copy.deepcopy(self.repo)
        role = rng.choice(("timestamp", "snapshot", "targets"))
        if kind == "attack-stale-version":
            # The role signed again with the right key, its version gone back.
            md = bad.md(role).signed
            md.version = max(1, md.version - rng.randint(1, 2))
            self._sign(bad, role, False)
            if role != "timestamp":
                self._sign_chain(bump=True, top="snapshot" if role == "targets" else "timestamp", repo=bad)
        elif kind == "attack-wrong-key":
            self._add_release_to(bad)
            bad.bump(role, expires=self._expiry(role))
            bad.sign(role, [self._key()])
            if role != "timestamp":
                self._sign_chain(bump=True, top="snapshot" if role == "targets" else "timestamp", repo=bad)
        elif kind == "attack-expired":
            bad.bump(role, expires=self.now - timedelta(days=rng.randint(1, 3)))
            bad.sign(role, self.keys[role])
            if role != "timestamp":
                self._sign_chain(bump=True, top="snapshot" if role == "targets" else "timestamp", repo=bad)
        elif kind == "attack-root-threshold":
            # A new root signed by one key fewer than a threshold of the old
            # root keys (and all of its own).
            new = self._key()
            bad.root.signed.add_key(new.public_key, "timestamp")
            self._new_root(bad)
            short = rng.sample(self.keys["root"], self.thresholds["root"] - 1)
            bad.sign("root", short)
        for r in ("timestamp", "snapshot", "targets"):
            self.burnt[r] = max(self.burnt.get(r, 0), bad.md(r).signed.version)
        return self._files(bad)

    def _add_release_to(self, repo: Repo) -> None:
        n = self.release + 1
        rel = Release(sc.PRODUCT, [sc.BOARD], n, f"1.{n}.0", 0)
        for path, data in sc.release_files(n).items():
            repo.add_target(release_prefix(sc.PRODUCT, sc.BOARD, n) + path, data, rel.custom())

    # -- writing and the reference client ------------------------------------

    def write(self, out: Path) -> None:
        """Step folders 0..n-1, root.json (the initial root) and plan.txt:
        a line per step, "<time> <downloads, comma-separated>"."""
        out.mkdir(parents=True, exist_ok=True)
        (out / "root.json").write_bytes(self.initial_root)
        lines = []
        for i, (_, when, files, downloads) in enumerate(self.steps):
            for name, data in files.items():
                p = out / str(i) / name
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
            lines.append(f"{when} {','.join(downloads)}")
        (out / "plan.txt").write_text("\n".join(lines) + "\n")

    def ngclient(self, out: Path) -> list[str]:
        """ngclient over the written steps, trusted metadata carried: per
        step "ok" or the exception's name, then the four persisted hashes."""
        res = []
        with tempfile.TemporaryDirectory() as st:
            state = Path(st)
            for i, (_, when, _, downloads) in enumerate(self.steps):
                got = sc.ngclient_step(state, out / str(i), self.initial_root, downloads, when)
                hs = sc.persisted(state, self.initial_root)
                res.append(" ".join([got or "ok", *[hs[r] or "-" for r in ROLES]]))
        return res
