"""The audit corpus (tests/audit_corpus/): its cases and what each must produce.

Shared by tests/host/test_audit_corpus.py and bench/bench_audit.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "audit_corpus"
_LIST = re.compile(r"SBD\d{3}")


@dataclass(frozen=True)
class Case:
    path: Path
    expected: frozenset[str]  # ground truth
    misses: frozenset[str]  # known limits: expected but not found today
    false: frozenset[str]  # known limits: found but wrong
    near: frozenset[str]  # rules this negative case is a near miss for

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def today(self) -> frozenset[str]:
        """What the audit finds today (ground truth adjusted by the documented limits)."""
        return (self.expected - self.misses) | self.false


def _header(text: str) -> tuple[set[str], set[str], set[str], set[str]]:
    expected: set[str] = set()
    near: set[str] = set()
    misses: set[str] = set()
    false: set[str] = set()
    seen = False
    for line in text.splitlines()[:5]:
        if line.startswith("# expect:"):
            seen = True
            what, _, close = line.partition("near misses for")
            expected |= set(_LIST.findall(what))
            near |= set(_LIST.findall(close))
        elif line.startswith("# limit: miss"):
            misses |= set(_LIST.findall(line))
        elif line.startswith("# limit: false"):
            false |= set(_LIST.findall(line))
    if not seen:
        raise ValueError("no '# expect:' line")
    return expected, misses, false, near


def cases() -> list[Case]:
    out = []
    for p in sorted(CORPUS.iterdir()):
        if p.suffix == ".py":
            exp, miss, false, near = _header(p.read_text())
        elif p.is_dir():
            exp, miss, false, near = _header("# expect: " + (p / "EXPECT").read_text())
        else:
            continue
        out.append(Case(p, frozenset(exp), frozenset(miss), frozenset(false), frozenset(near)))
    return out
