"""The docs stay true to the tree: every file a doc points at exists, and the
threat model's structural claims hold (a claim whose test was deleted or
renamed fails here, not silently)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").rglob("*.md"))

# `path/to/file.ext` in backticks, or a relative Markdown link (file.md).
_PATH_RE = re.compile(r"`((?:sdk|host_tools|tests|docs|bench|board_configs|examples)/[^`*<>{}\s]+?)`")
_LINK_RE = re.compile(r"\]\(([^)#:]+?\.md)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_paths_named_in_docs_exist(doc: Path) -> None:
    text = doc.read_text()
    missing = []
    for m in _PATH_RE.finditer(text):
        p, _, test = m.group(1).rstrip(".,;:").partition("::")
        # Globs stand for a set of files: at least one must match.
        hits = list(ROOT.glob(p)) if any(c in p for c in "*?[") else [ROOT / p]
        if not any(h.exists() for h in hits):
            missing.append(p)
        elif test and f"def {test}(" not in hits[0].read_text():
            missing.append(m.group(1))
    for m in _LINK_RE.finditer(text):
        if not (doc.parent / m.group(1)).exists():
            missing.append(m.group(1))
    assert not missing, f"{doc.relative_to(ROOT)} names files that do not exist: {missing}"


def _public_defs(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            names.add(node.name.lower())
    return names


def test_device_crypto_has_no_signing_code() -> None:
    """Threat model: no private signing key exists on a device, because the
    device package cannot sign at all (signing lives in sbdtools.crypto_host)."""
    for py in sorted((ROOT / "sdk" / "sbd").rglob("*.py")):
        for name in _public_defs(py):
            assert not re.search(r"(^|_)sign($|_)|private|secret_key|keypair", name), f"{py}: {name}"
    host = _public_defs(ROOT / "host_tools" / "sbdtools" / "crypto_host.py")
    assert any("sign" in n for n in host), "the host side is where signing lives"
