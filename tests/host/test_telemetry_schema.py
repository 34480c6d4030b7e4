"""The telemetry schema covers what the SDK emits: every `emit("x.y", k=...)`
in sdk/sbd names an event sbd.telemetry declares, with declared fields only,
and docs/telemetry.md's table lists exactly the declared events and fields."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from sbdtools import shims

shims.install()

from sbd import telemetry  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _emits() -> list[tuple[str, str, set[str]]]:
    out = []
    for py in sorted((ROOT / "sdk" / "sbd").rglob("*.py")):
        for node in ast.walk(ast.parse(py.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "emit"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                where = f"{py.relative_to(ROOT)}:{node.lineno}"
                out.append((where, node.args[0].value, {k.arg for k in node.keywords if k.arg}))
    return out


def test_the_scan_finds_the_sdk_events() -> None:
    names = {n for _, n, _ in _emits()}
    assert {"auth.failure", "auth.lockout", "validation.rejected"} <= names


def test_every_emitted_event_is_declared_with_its_fields() -> None:
    bad = []
    for where, name, fields in _emits():
        spec = telemetry.EVENTS.get(name)
        if spec is None:
            bad.append(f"{where}: {name} is not in sbd.telemetry.EVENTS")
        elif not fields <= set(spec):
            bad.append(f"{where}: {name} fields {sorted(fields - set(spec))} are not declared")
    assert not bad, bad


def test_docs_table_matches_the_catalogue() -> None:
    text = (ROOT / "docs" / "telemetry.md").read_text()
    rows = re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \| ([^|]*) \|", text, re.M)
    documented = {name: tuple(re.findall(r"`([a-z_]+)`", fields)) for name, fields in rows}
    assert documented == dict(telemetry.EVENTS)
