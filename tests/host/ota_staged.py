"""Repositories for the tests of the staged state, `publish` and `prune`
(test_ota_publish.py, test_ota_staging_review.py), made in-process with
sbdtools.ota: one key a role from a seed (each test file its own seeds), a
release n of two small files, and what a repository serves."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sbdtools import ota, ota_publish

NOW = "2026-11-30T12:00:00Z"
ROLES = ("root", "targets", "snapshot", "timestamp")


class StagedRepos:
    """Keys seeded from label + role; repositories signed with them."""

    def __init__(self, label: bytes) -> None:
        self.label = label

    def signer(self, role: str) -> ota.Signer:
        return ota.signer_from_seed(hashlib.sha256(self.label + role.encode()).digest())

    def add(self, path: Path, n: int, *, sign_root: bool = False, product: str = "acme") -> None:
        """Stage release n (version n.0) for pico_w, signed (root too with sign_root)."""
        files = {"main.py": f"print({n})\n".encode(), "lib/util.mpy": b"M" + bytes([n]) * 40}
        ota.add_release(path, files, product=product, board="pico_w", version=f"{n}.0")
        for role in ROLES if sign_root else ROLES[1:]:
            ota.sign_role(path, role, self.signer(role))

    def new_repo(self, path: Path, *, consistent: bool = False) -> Path:
        """A repository with release 1 published."""
        pub = {r: [self.signer(r).public_key] for r in ROLES}
        ota.init_repo(path, pub, {}, consistent_snapshot=consistent)  # type: ignore[arg-type]
        self.add(path, 1, sign_root=True)
        ota_publish.publish(path, now=NOW)
        return path


def served(path: Path) -> dict[str, bytes]:
    """Every published file (metadata/, targets/): its bytes by relative path."""
    return {
        str(p.relative_to(path)): p.read_bytes()
        for d in ("metadata", "targets")
        for p in sorted((path / d).rglob("*"))
        if p.is_file()
    }
