"""`sbd compliance`: the documents carry every required fact, security.txt
parses back (RFC 9116), and it refuses when a fact is missing, a support
period goes backwards, evidence did not pass or the audit blocks."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sbdtools import compliance
from sbdtools.cli import group

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 11, 30)
PRODUCT: dict[str, Any] = {
    "manufacturer": {"name": "Example Sensors Ltd", "address": "1 High Street, Leeds LS1 1AA, UK"},
    "product": {"name": "Greenhouse sensor", "model": "GS-2", "batch": "GS2-2026-11"},
    "support_period_end": "2031-12-31",
    "previous_support_period_end": "2030-06-30",
    "disclosure": {
        "contact": "security@example.net",
        "acknowledge_days": 5,
        "status_update_days": 14,
        "policy_url": "https://example.net/security-policy",
        "languages": ["en"],
    },
    "statement": {"place": "Leeds", "signatory": "A. Person", "function": "Director"},
    "justifications": {"5.2-2": "handled by the manufacturer's PSIRT process (doc PS-4)"},
    "evidence": {"5.2-3": "weekly dependency and advisory review (doc PS-5)"},
}


def _junit(tmp_path: Path, *, fail: str = "", drop: str = "") -> Path:
    files = sorted({f for _, _, _, fs in compliance.PROVISIONS for f in fs})
    cases = []
    for f in files:
        if f == drop:
            continue
        cls = f[:-3].replace("/", ".")
        bad = "<failure message='x'/>" if f == fail else ""
        cases.append(f'<testcase classname="{cls}" name="test_a">{bad}</testcase>')
    p = tmp_path / "junit.xml"
    p.write_text(f"<testsuites><testsuite name='pytest'>{''.join(cases)}</testsuite></testsuites>")
    return p


def _gen(tmp_path: Path, product: dict[str, Any], **kw: str) -> compliance.Documents:
    return compliance.generate(product, ROOT / "examples", _junit(tmp_path, **kw), today=TODAY)


def test_documents_carry_every_required_fact(tmp_path: Path) -> None:
    docs = _gen(tmp_path, PRODUCT)
    for fact in (
        "Greenhouse sensor",
        "GS-2",
        "GS2-2026-11",
        "Example Sensors Ltd",
        "1 High Street",
        "2031-12-31",
        "A. Person",
        "Director",
        "Leeds, 2026-11-30",
        "prepared by or on behalf of the manufacturer",
    ):
        assert fact in docs.statement
    for pid, *_ in compliance.PROVISIONS:
        assert f"| {pid} |" in docs.etsi_table
    assert "justification: handled by the manufacturer's PSIRT" in docs.etsi_table
    assert "`tests/device/test_auth.py` passed" in docs.etsi_table
    assert "security@example.net" in docs.security_md and "within 5 days" in docs.security_md


def test_security_txt_parses_back(tmp_path: Path) -> None:
    txt = _gen(tmp_path, PRODUCT).security_txt
    fields: dict[str, list[str]] = {}
    for line in txt.splitlines():
        k, sep, v = line.partition(": ")
        assert sep and k and v, line
        fields.setdefault(k, []).append(v)
    assert fields["Contact"] == ["mailto:security@example.net"]
    (expires,) = fields["Expires"]  # RFC 9116: exactly one, ISO 8601 with Z, under a year ahead recommended
    when = dt.datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").date()
    assert TODAY < when < TODAY + dt.timedelta(days=366)
    assert fields["Policy"] == ["https://example.net/security-policy"]


def _without(path: str) -> dict[str, Any]:
    p = copy.deepcopy(PRODUCT)
    *parents, last = path.split(".")
    cur = p
    for k in parents:
        cur = cur[k]
    del cur[last]
    return p


@pytest.mark.parametrize(
    "missing",
    ["disclosure.contact", "support_period_end", "manufacturer.address", "product.batch", "statement.signatory"],
)
def test_refuses_when_a_mandatory_fact_is_missing(tmp_path: Path, missing: str) -> None:
    with pytest.raises(compliance.ComplianceError, match=f"missing .*\\({missing}\\)"):
        _gen(tmp_path, _without(missing))


def test_refuses_a_support_period_shorter_than_the_previous_release(tmp_path: Path) -> None:
    p = copy.deepcopy(PRODUCT)
    p["support_period_end"] = "2029-01-01"
    with pytest.raises(compliance.ComplianceError, match="before the previous release"):
        _gen(tmp_path, p)


@pytest.mark.parametrize("how", ["fail", "drop"])
def test_refuses_when_an_evidence_test_did_not_pass(tmp_path: Path, how: str) -> None:
    with pytest.raises(compliance.ComplianceError, match=r"5\.1-5: evidence tests did not pass.*test_auth\.py"):
        _gen(tmp_path, PRODUCT, **{how: "tests/device/test_auth.py"})


def test_refuses_an_uncovered_provision_without_justification(tmp_path: Path) -> None:
    with pytest.raises(compliance.ComplianceError, match=r"5\.2-2 .*give evidence or a justification"):
        _gen(tmp_path, _without("justifications"))


def test_refuses_when_the_audit_blocks(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "main.py").write_text('WIFI_PASSWORD = "tr0ub4dor&3horse"\n')
    with pytest.raises(compliance.ComplianceError, match=r"blocking issue.*SBD001"):
        compliance.generate(PRODUCT, proj, _junit(tmp_path), today=TODAY)


def test_cli_writes_the_documents_or_nothing(tmp_path: Path) -> None:
    prod = tmp_path / "product.json"
    prod.write_text(json.dumps(PRODUCT))
    args = ["compliance", "--product", str(prod), "--project", str(ROOT / "examples"), "--junit"]
    r = CliRunner().invoke(group, [*args, str(_junit(tmp_path)), "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "SECURITY.md",
        "etsi-en-303-645.md",
        "security.txt",
        "statement-of-compliance.md",
    ]
    bad = _junit(tmp_path, fail="tests/device/test_ota.py")
    r = CliRunner().invoke(group, [*args, str(bad), "--out", str(tmp_path / "out2")])
    assert r.exit_code != 0 and not (tmp_path / "out2").exists()


def test_junit_with_a_dtd_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "j.xml"
    p.write_text('<!DOCTYPE x [<!ENTITY a "b">]><testsuites/>')
    with pytest.raises(compliance.ComplianceError, match="DTD"):
        compliance.passed_tests(p)
