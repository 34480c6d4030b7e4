"""`sbd audit`: suppressions, report formats, exit codes, input bounds and
symlinks; the SDK and its examples audit clean."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sbdtools.audit import RULES, AuditError, Limits, audit
from sbdtools.audit.report import to_json, to_sarif, to_text
from sbdtools.cli import group

ROOT = Path(__file__).resolve().parents[2]
LEAK = 'WIFI_PASSWORD = "tr0ub4dor&3horse"\n'


def _rules(path: Path) -> list[str]:
    return [f.rule for f in audit(path).findings]


@pytest.mark.parametrize("where", ["sdk", "examples"])
def test_the_sdk_and_its_examples_audit_clean(where: str) -> None:
    rep = audit(ROOT / where)
    assert rep.findings == [], to_text(rep)
    assert len(rep.scanned) > 1
    # The SDK's one deliberate exception carries its reason.
    assert all(len(s.reason) > 10 for s in rep.suppressed)


def test_suppression_with_a_reason_suppresses(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "# sbd-audit: ignore SBD001 a bench fixture, never shipped\n"
        + LEAK
        + "x = eval(input())  # sbd-audit: ignore SBD005 dev shell\n"
    )
    rep = audit(tmp_path)
    assert rep.findings == []
    assert [(s.finding.rule, s.reason) for s in rep.suppressed] == [
        ("SBD001", "a bench fixture, never shipped"),
        ("SBD005", "dev shell"),
    ]


@pytest.mark.parametrize(
    "comment",
    [
        "# sbd-audit: ignore SBD001",
        "# sbd-audit: ignore",
        "# sbd-audit: ignore SBD999 no such rule",
        "# sbd-audit: ignore SBD005 wrong rule",
    ],
)
def test_a_suppression_without_a_reason_or_for_another_rule_suppresses_nothing(tmp_path: Path, comment: str) -> None:
    (tmp_path / "a.py").write_text(comment + "\n" + LEAK)
    found = sorted(_rules(tmp_path))
    assert "SBD001" in found
    assert ("SBD000" in found) == ("wrong rule" not in comment)


def test_a_suppression_only_covers_its_line_and_the_next(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("# sbd-audit: ignore SBD001 fixture\n\n" + LEAK)
    assert _rules(tmp_path) == ["SBD001"]


def test_suppression_text_inside_a_string_is_not_a_suppression(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('DOC = "# sbd-audit: ignore SBD001 nope"; WIFI_PASSWORD = "tr0ub4dor&3horse"\n')
    assert _rules(tmp_path) == ["SBD001"]


def test_unparsable_source_falls_back_to_text_rules(tmp_path: Path) -> None:
    (tmp_path / "old.py").write_text('print "hello"\nPASSWORD = "micropythoN"\nwebrepl.start()\nexec(cmd)\n')
    assert sorted(_rules(tmp_path)) == ["SBD002", "SBD003", "SBD005"]


def test_messages_never_carry_the_secret(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(LEAK + 'print("pw", WIFI_PASSWORD)\n')
    rep = audit(tmp_path)
    for out in (to_text(rep), to_json(rep), json.dumps(to_sarif(rep))):
        assert "tr0ub4dor" not in out


SARIF_SCHEMA = Path(__file__).parent / "sarif" / "sarif-2.1.0-rtm.5.json"


def _schema_errors(doc: dict[str, Any]) -> list[str]:
    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text())
    validator = jsonschema.Draft4Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]


def _check_sarif(doc: dict[str, Any]) -> None:
    """Valid against the SARIF 2.1.0 JSON schema (tests/host/sarif/), plus what code
    scanning needs beyond it (rule ids unique, results pointing at their rule, relative URIs)."""
    assert _schema_errors(doc) == []
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert isinstance(driver["name"], str) and driver["name"]
    ids = [r["id"] for r in driver["rules"]]
    assert len(ids) == len(set(ids)) == len(RULES)
    for r in driver["rules"]:
        assert r["defaultConfiguration"]["level"] in ("none", "note", "warning", "error")
        assert isinstance(r["shortDescription"]["text"], str)
        float(r["properties"]["security-severity"])
    for res in run["results"]:
        assert res["message"]["text"]
        assert res["level"] in ("none", "note", "warning", "error")
        assert driver["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
        for loc in res["locations"]:
            phys = loc["physicalLocation"]
            assert not phys["artifactLocation"]["uri"].startswith("/")
            assert "!/" not in phys["artifactLocation"]["uri"]
            if "region" in phys:
                assert phys["region"]["startLine"] >= 1
        for s in res.get("suppressions", []):
            assert s["kind"] in ("inSource", "external") and s["justification"]


def test_sarif_json_and_text_reports(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(LEAK + "exec(x)  # sbd-audit: ignore SBD005 dev only\n")
    rep = audit(tmp_path)
    sarif = to_sarif(rep)
    _check_sarif(json.loads(json.dumps(sarif)))
    (res, sup) = sarif["runs"][0]["results"]
    assert res["ruleId"] == "SBD001" and res["locations"][0]["physicalLocation"]["region"]["startLine"] == 1
    assert sup["suppressions"][0]["justification"] == "dev only"
    doc = json.loads(to_json(rep))
    assert [f["rule"] for f in doc["findings"]] == ["SBD001"] and doc["suppressed"][0]["reason"] == "dev only"
    assert "a.py:1: error: SBD001 hardcoded-credential" in to_text(rep)


@pytest.mark.parametrize(("fail_on", "code"), [("error", 0), ("warning", 1), ("note", 1), ("never", 0)])
def test_exit_code_follows_fail_on(tmp_path: Path, fail_on: str, code: int) -> None:
    (tmp_path / "a.py").write_text("def f(password):\n    print(password)\n")  # SBD006: a warning
    r = CliRunner().invoke(group, ["audit", str(tmp_path), "--fail-on", fail_on])
    assert r.exit_code == code, r.output


def test_the_schema_check_refuses_invalid_sarif(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(LEAK + "exec(x)  # sbd-audit: ignore SBD005 dev only\n")
    good = json.loads(json.dumps(to_sarif(audit(tmp_path))))
    assert _schema_errors(good) == []
    for path, value in (
        (("runs", 0, "results", 0, "level"), "fatal"),  # not a SARIF level
        (("runs", 0, "results", 0, "locations", 0, "physicalLocation", "region", "startLine"), 0),  # minimum 1
        (("runs", 0, "results", 1, "suppressions", 0, "kind"), "maybe"),
        (("runs", 0, "tool", "driver", "unknownProperty"), 1),  # additionalProperties: false
    ):
        bad = json.loads(json.dumps(good))
        cur: Any = bad
        for k in path[:-1]:
            cur = cur[k]
        cur[path[-1]] = value
        assert _schema_errors(bad), path
    bad = json.loads(json.dumps(good))
    del bad["runs"][0]["tool"]
    assert _schema_errors(bad)


def test_cli_writes_sarif(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "boot.py").write_text("import webrepl\nwebrepl.start()\n")
    out = tmp_path / "audit.sarif"
    r = CliRunner().invoke(group, ["audit", str(tmp_path / "src"), "--format", "sarif", "-o", str(out)])
    assert r.exit_code == 1
    doc = json.loads(out.read_text())
    _check_sarif(doc)
    assert [x["ruleId"] for x in doc["runs"][0]["results"]] == ["SBD003"]


def test_clean_project_exits_zero(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("print('hello')\n")
    r = CliRunner().invoke(group, ["audit", str(tmp_path)])
    assert r.exit_code == 0 and "0 findings" in r.output


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secrets.py").write_text(LEAK)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "main.py").write_text("print(1)\n")
    os.symlink(outside / "secrets.py", proj / "secrets.py")
    os.symlink(outside, proj / "lib")
    rep = audit(proj)
    assert rep.findings == []
    assert sorted(p for p, _ in rep.skipped) == ["lib", "secrets.py"]
    assert rep.scanned == ["main.py"]


def test_oversized_files_and_too_many_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text("x = 1\n" * 100)
    with pytest.raises(AuditError, match=r"big\.py: 600 bytes, over the 100-byte limit"):
        audit(tmp_path, limits=Limits(max_file_bytes=100))
    for i in range(5):
        (tmp_path / f"m{i}.py").write_text("x = 1\n")
    with pytest.raises(AuditError, match="more than 3 files"):
        audit(tmp_path, limits=Limits(max_files=3))
    with pytest.raises(AuditError, match="bytes to scan"):
        audit(tmp_path, limits=Limits(max_total_bytes=620))
    deep = tmp_path / "d"
    for i in range(4):
        deep = deep / str(i)
    deep.mkdir(parents=True)
    with pytest.raises(AuditError, match="nested deeper than 2"):
        audit(tmp_path, limits=Limits(max_depth=2))


@pytest.mark.parametrize("name", ["junk.img", "junk.bin", "junk.uf2"])
def test_garbage_images_are_reported_not_crashed_on(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(os.urandom(4096) + b"-----BEGIN PRIVATE KEY-----" + os.urandom(64))
    rep = audit(tmp_path)
    assert [f.rule for f in rep.findings] == ["SBD001"]  # raw strings are still searched
    assert [p for p, _ in rep.skipped] == [name]


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="nope"):
        audit(tmp_path / "nope")
