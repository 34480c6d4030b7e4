"""The documentation site: `mkdocs build --strict` passes, and the generated
pages (API reference from the device sources, CLI reference from the click
commands, the compliance map from PROVISIONS, the API nav in mkdocs.yml) are
what the generator makes now, so they cannot drift from the code."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from sbdtools import docgen

ROOT = Path(__file__).resolve().parents[2]


def _build(config: Path, out: Path) -> subprocess.CompletedProcess[str]:
    # Never -q: a quiet build drops warnings before --strict counts them (it then passes anything).
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    r = _build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert r.returncode == 0, r.stderr + r.stdout
    site = tmp_path / "site"
    for page in ("index.html", "reference/cli.html", "compliance-map.html", "reference/api/sbd.auth.html"):
        assert (site / page).is_file(), page
    for q in ("firmware-developer", "factory", "hobbyist"):
        assert (site / "quickstart" / f"{q}.html").is_file()


def test_a_broken_link_fails_the_strict_build(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "quickstart" / "hobbyist.md"
    page.write_text(page.read_text() + "\nSee [nowhere](no-such-page.md).\n")
    r = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert r.returncode != 0 and "no-such-page.md" in r.stderr + r.stdout


def test_generated_pages_are_current() -> None:
    # In a fresh interpreter, as `python -m sbdtools.docgen` runs: in a worker of the whole suite,
    # an earlier test can leave the CLI in a state (an option default captured while patched).
    r = subprocess.run(
        [sys.executable, "-m", "sbdtools.docgen", "--check"], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, f"run `.venv/bin/python -m sbdtools.docgen` to regenerate:\n{r.stdout}{r.stderr}"


def test_every_public_device_module_and_command_is_documented() -> None:
    gen = docgen.generated()
    for py in (ROOT / "sdk" / "sbd").rglob("*.py"):
        rel = py.relative_to(ROOT / "sdk").with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        if not any(p.startswith("_") for p in parts):
            assert f"docs/reference/api/{'.'.join(parts)}.md" in gen, py
    auth = gen["docs/reference/api/sbd.auth.md"]
    assert "def " not in auth and "### `check(" in auth  # signatures from the source, without importing it
    from sbdtools.cli import group

    cli = gen["docs/reference/cli.md"]
    for name, cmd in group.commands.items():
        assert f"`sbd {name}`" in cli and f"Usage: sbd {name}" in cli
        for sub in getattr(cmd, "commands", {}):
            assert f"`sbd {name} {sub}`" in cli
    cmap = gen["docs/compliance-map.md"]
    for n in range(1, 14):  # each guideline links to its clause's section (a wrong anchor fails the strict build)
        assert f"| {n}. " in cmap and f"(#clause-5-{n})" in cmap and f"{{#clause-5-{n}}}" in cmap


def test_staleness_is_detected(tmp_path: Path) -> None:
    sdk = tmp_path / "sdk" / "sbd"
    sdk.mkdir(parents=True)
    (sdk / "__init__.py").write_text('"""Top."""\n')
    (sdk / "thing.py").write_text('"""A thing."""\n\nLIMIT = const(4)\n\n\ndef go(n, *, fast=False):\n    """Go."""\n')
    (sdk / "_hidden.py").write_text("def secret(): pass\n")
    (tmp_path / "mkdocs.yml").write_text(f"nav:\n  - API:\n{docgen.NAV_BEGIN}\n{docgen.NAV_END}\n")
    for rel, text in docgen.generated(tmp_path).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert docgen.stale(tmp_path) == []
    page = (tmp_path / "docs/reference/api/sbd.thing.md").read_text()
    assert "### `go(n, *, fast=False)`" in page and "| `LIMIT` | `4` |" in page
    assert not (tmp_path / "docs/reference/api/sbd._hidden.md").exists()
    assert "sbd.thing: reference/api/sbd.thing.md" in (tmp_path / "mkdocs.yml").read_text()
    (sdk / "thing.py").write_text('"""A thing, changed."""\n')
    (tmp_path / "docs/reference/api/sbd.gone.md").write_text("old\n")
    assert docgen.stale(tmp_path) == [
        "docs/reference/api/sbd.thing.md",
        "docs/reference/api/index.md",  # its summary line of sbd.thing
        "docs/reference/api/sbd.gone.md",
    ]
