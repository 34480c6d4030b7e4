"""The device package's import rules (docs/architecture.md):

1. modules depend downwards: a module imports only modules of its own layer
   or a lower one (LAYERS below), and the import graph has no cycle;
2. a name starting with `_` is private to its file: no file imports `_x`
   from another module;
3. a file starting with `_` is internal to its package: only modules of
   that package import it.

Checked on the source with ast, so it holds for lazy imports inside
functions too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "sdk"

# Top-level sbd modules and packages by layer (0 is the bottom).
LAYERS = {
    "sbd": 0,
    "sbd._fs": 0,
    "sbd.crypto": 1,
    "sbd.events": 1,
    "sbd.board": 1,
    "sbd.validate": 2,
    "sbd.identity": 2,
    "sbd.telemetry": 2,
    "sbd.auth": 3,
    "sbd.creds": 3,
    "sbd.ota": 3,
    "sbd.boot": 3,
    "sbd.bootcache": 3,
    "sbd.net": 3,
    "sbd.privacy": 3,
    "sbd.lockdown": 2,
    "sbd.flashlog": 2,
    "sbd.trustedtime": 1,
}


def _modules() -> dict[str, Path]:
    out = {}
    for py in sorted((SDK / "sbd").rglob("*.py")):
        rel = py.relative_to(SDK).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = py
    return out


def _unit(mod: str) -> str:
    """The top-level unit a module belongs to: sbd.crypto.aead -> sbd.crypto."""
    parts = mod.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else mod


def _imports(py: Path) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) for every sbd import in the file."""
    out = []
    for node in ast.walk(ast.parse(py.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == "sbd"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "sbd":
            out.append((node.module, [a.name for a in node.names], node.lineno))
    return out


def test_every_module_has_a_layer() -> None:
    missing = sorted({_unit(m) for m in _modules()} - set(LAYERS))
    assert not missing, f"add these to LAYERS (and docs/architecture.md): {missing}"


def test_modules_depend_downwards_only() -> None:
    mods = _modules()
    bad = []
    for mod, py in mods.items():
        here = LAYERS[_unit(mod)]
        for target, names, line in _imports(py):
            # `from sbd import x` imports the module sbd.x when it is one.
            targets = [f"{target}.{n}" if f"{target}.{n}" in mods else target for n in names] or [target]
            for t in targets:
                if _unit(t) != _unit(mod) and LAYERS[_unit(t)] > here:
                    bad.append(f"{py.relative_to(ROOT)}:{line}: {mod} (layer {here}) imports {t}")
    assert not bad, "\n".join(bad)


def test_no_import_cycles_between_units() -> None:
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for mod, py in mods.items():
        for target, names, _ in _imports(py):
            for t in [f"{target}.{n}" if f"{target}.{n}" in mods else target for n in names] or [target]:
                if _unit(t) != _unit(mod) and _unit(t) != "sbd":
                    graph.setdefault(_unit(mod), set()).add(_unit(t))
    seen: dict[str, int] = {}

    def visit(u: str, stack: list[str]) -> None:
        seen[u] = 1
        for v in sorted(graph.get(u, ())):
            assert seen.get(v) != 1, "import cycle: " + " -> ".join([*stack, u, v])
            if v not in seen:
                visit(v, [*stack, u])
        seen[u] = 2

    for u in sorted(graph):
        if u not in seen:
            visit(u, [])


def test_private_names_stay_in_their_file() -> None:
    mods = _modules()
    bad = []
    for py in mods.values():
        for target, names, line in _imports(py):
            for n in names:
                if n.startswith("_") and f"{target}.{n}" not in mods:
                    bad.append(f"{py.relative_to(ROOT)}:{line}: imports private name {n} from {target}")
    assert not bad, "\n".join(bad)


def test_internal_files_stay_in_their_package() -> None:
    mods = _modules()
    bad = []
    for mod, py in mods.items():
        for target, names, line in _imports(py):
            for t in [f"{target}.{n}" if f"{target}.{n}" in mods else target for n in names] or [target]:
                leaf = t.rsplit(".", 1)
                if len(leaf) == 2 and leaf[1].startswith("_") and not mod.startswith(leaf[0]):
                    bad.append(f"{py.relative_to(ROOT)}:{line}: {mod} imports {t}, internal to {leaf[0]}")
    assert not bad, "\n".join(bad)
