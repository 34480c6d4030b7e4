"""The audit report as text, JSON and SARIF 2.1.0."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .. import __version__
from .model import RULES, Report

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {"note": "note", "warning": "warning", "error": "error"}
# GitHub code scanning ranks security results by this property (0.0-10.0).
_SECURITY_SEVERITY = {"note": "3.0", "warning": "6.0", "error": "8.5"}


def to_text(report: Report) -> str:
    lines = []
    for f in report.findings:
        where = f"{f.path}:{f.line}" if f.line else f.path
        lines.append(f"{where}: {f.severity}: {f.rule} {RULES[f.rule].name}: {f.message}")
    for path, why in report.skipped:
        lines.append(f"{path}: skipped: {why}")
    n = len(report.findings)
    lines.append(
        f"{len(report.scanned)} files scanned, {n} finding{'s' if n != 1 else ''}, "
        f"{len(report.suppressed)} suppressed with a reason"
    )
    return "\n".join(lines) + "\n"


def to_json(report: Report) -> str:
    doc = {
        "tool": "sbd audit",
        "version": __version__,
        "root": report.root,
        "findings": [
            {
                "rule": f.rule,
                "name": RULES[f.rule].name,
                "severity": f.severity,
                "path": f.path,
                "line": f.line,
                "message": f.message,
            }
            for f in report.findings
        ],
        "suppressed": [
            {"rule": s.finding.rule, "path": s.finding.path, "line": s.finding.line, "reason": s.reason}
            for s in report.suppressed
        ],
        "scanned": report.scanned,
        "skipped": [{"path": p, "why": w} for p, w in report.skipped],
    }
    return json.dumps(doc, indent=2) + "\n"


def _location(path: str, line: int) -> dict[str, Any]:
    # A file inside an image is reported on the image; the inner path goes in the message.
    outer = path.split("!/", 1)[0]
    phys: dict[str, Any] = {"artifactLocation": {"uri": outer, "uriBaseId": "%SRCROOT%"}}
    if line and "!/" not in path:
        phys["region"] = {"startLine": line}
    return {"physicalLocation": phys}


def to_sarif(report: Report) -> dict[str, Any]:
    ids = sorted(RULES)
    rules = [
        {
            "id": r.id,
            "name": r.name,
            "shortDescription": {"text": r.summary},
            "fullDescription": {"text": r.summary},
            "help": {"text": r.help},
            "defaultConfiguration": {"level": _SARIF_LEVEL[r.severity]},
            "properties": {
                "tags": ["security", *(f"etsi-en-303-645:{p}" for p in r.provisions)],
                "security-severity": _SECURITY_SEVERITY[r.severity],
            },
        }
        for r in (RULES[i] for i in ids)
    ]

    def result(f: Any, suppressed: str | None = None) -> dict[str, Any]:
        inner = f.path.split("!/", 1)[1] if "!/" in f.path else None
        text = f"{f.message} (in {inner})" if inner else f.message
        fp = hashlib.sha256(f"{f.rule}\0{f.path}\0{f.message}".encode()).hexdigest()[:32]
        out: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": ids.index(f.rule),
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": text},
            "locations": [_location(f.path, f.line)],
            "partialFingerprints": {"sbdAudit/v1": fp},
        }
        if suppressed is not None:
            out["suppressions"] = [{"kind": "inSource", "justification": suppressed}]
        return out

    results = [result(f) for f in report.findings]
    results += [result(s.finding, s.reason) for s in report.suppressed]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "sbd audit",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "the audited folder"}}},
                "results": results,
            }
        ],
    }
