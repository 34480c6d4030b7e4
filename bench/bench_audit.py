"""`sbd audit` on its corpus (tests/audit_corpus/): precision and recall per rule.

A case is one file or app folder; per rule, a true positive is a case where
the rule is expected and found, a false positive one where it is found but not
expected, a false negative one where it is expected but not found.  The
compiled column audits each single-file case again as .mpy (mpy-cross), where
only what the strings show can be found.  Writes bench/results/audit.md.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from sbdtools.audit import RULES, audit
from sbdtools.mpytools import require_tool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "host"))

from audit_cases import cases  # noqa: E402  (tests/host)


def _score(pairs: list[tuple[frozenset[str], set[str]]], rule: str) -> tuple[int, int, int]:
    tp = sum(1 for exp, got in pairs if rule in exp and rule in got)
    fp = sum(1 for exp, got in pairs if rule not in exp and rule in got)
    fn = sum(1 for exp, got in pairs if rule in exp and rule not in got)
    return tp, fp, fn


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def main() -> None:
    cs = cases()
    source = [(c.expected, {f.rule for f in audit(c.path).findings}) for c in cs]
    compiled = []
    with tempfile.TemporaryDirectory() as tmp:
        for c in cs:
            if c.path.suffix != ".py":
                continue
            out = Path(tmp) / (c.path.stem + ".mpy")
            subprocess.run([require_tool("mpy-cross"), "-o", str(out), str(c.path)], check=True)
            compiled.append((c.expected, {f.rule for f in audit(out).findings}))
    lines = [
        "# sbd audit: precision and recall on its corpus (`make bench`)",
        "",
        f"- corpus: tests/audit_corpus/, {len(cs)} cases "
        f"({sum(1 for c in cs if c.expected)} with findings expected, {sum(1 for c in cs if not c.expected)} clean)",
        "- per case and rule: TP expected and found, FP found not expected, FN expected not found",
        "- compiled: the single-file cases compiled with mpy-cross and audited as .mpy (strings only)",
        "",
        "| rule | name | TP | FP | FN | precision | recall | compiled: TP / FP / FN, recall |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for rid, rule in RULES.items():
        if rid == "SBD000":
            continue
        tp, fp, fn = _score(source, rid)
        ctp, cfp, cfn = _score(compiled, rid)
        lines.append(
            f"| {rid} | {rule.name} | {tp} | {fp} | {fn} | {_ratio(tp, tp + fp)} | {_ratio(tp, tp + fn)} "
            f"| {ctp} / {cfp} / {cfn}, {_ratio(ctp, ctp + cfn)} |"
        )
    lines += ["", "Known misses and false positives (each case's `# limit:` line says why):", ""]
    for c in cs:
        if c.misses or c.false:
            what = ", ".join([*(f"misses {r}" for r in sorted(c.misses)), *(f"false {r}" for r in sorted(c.false))])
            lines.append(f"- `{c.name}`: {what}")
    lines += [
        "",
        "The corpus was written together with the rules, so these figures are an upper bound for code in",
        "other styles; the `h*` cases were written after the rules and the rules were not changed for them.",
    ]
    text = "\n".join(lines) + "\n"
    (ROOT / "bench" / "results" / "audit.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
