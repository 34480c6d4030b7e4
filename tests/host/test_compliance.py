"""`sbd compliance`: the documents carry every required fact, security.txt
parses back (RFC 9116), the SBOM passes CycloneDX's own validator, the PDF's
text reads back, every ETSI EN 303 645 provision is listed, and it refuses
when a fact is missing, a support period goes backwards, evidence did not
pass or the audit blocks."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
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
    "firmware": {"micropython": "1.27.0", "board": "pico_w"},
    "justifications": {"5.2-2": "handled by the manufacturer's PSIRT process (doc PS-4)"},
    "evidence": {
        "5.2-3": "weekly dependency and advisory review (doc PS-5)",
        "5.3-3": "one button in the app (doc UX-1)",
        "5.3-8": "patch within 30 days (doc PS-4)",
        "5.5-8": "key ceremony (doc KM-1)",
        "5.6-2": "the page shows nothing before login (doc PEN-2)",
        "5.8-3": "the manual lists the temperature and humidity sensors (doc MAN-1)",
        "6-1": "privacy notice (doc PRIV-1)",
        "6-2": "consent screen (doc PRIV-2)",
        "6-3": "settings page (doc PRIV-2)",
        "6-5": "privacy notice, telemetry section (doc PRIV-1)",
    },
}


def _junit(tmp_path: Path, *, fail: str = "", drop: str = "") -> Path:
    """JUnit XML in pytest's shape: device tests once per runtime; FAIL/DROP name a file or file::test
    (a failure on one runtime only is enough)."""
    refs = sorted({t for pv in compliance.PROVISIONS for t in pv.evidence})
    cases = []
    for ref in refs:
        f, _, name = ref.partition("::")
        cls = f[:-3].replace("/", ".")
        for rt in ("micropython", "cpython"):
            if drop in (f, ref):
                continue
            bad = "<failure message='x'/>" if fail in (f, ref) and rt == "cpython" else ""
            cases.append(f'<testcase classname="{cls}" name="{name or "test_a"}[{rt}]">{bad}</testcase>')
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
    for pv in compliance.PROVISIONS:
        assert f"| {pv.pid} | {pv.modality} |" in docs.etsi_table
    assert "justification: handled by the manufacturer's PSIRT" in docs.etsi_table
    assert "`tests/device/test_auth.py::test_back_off_grows_and_locks` passed" in docs.etsi_table
    assert "| 6-2 | M | Consent for processing personal data obtained in a valid way | manufacturer | consent" in (
        docs.etsi_table
    )
    # a recommendation nobody answered for is listed as open, not hidden
    assert "| 5.12-2 | R |" in docs.etsi_table and "manufacturer's responsibility" in docs.etsi_table
    assert "Signature:" in docs.statement
    assert "security@example.net" in docs.security_md and "within 5 days" in docs.security_md


def test_security_txt_parses_back(tmp_path: Path) -> None:
    txt = _gen(tmp_path, PRODUCT).security_txt
    now = dt.datetime(2026, 11, 30, 12, tzinfo=dt.timezone.utc)
    parsed = compliance.parse_security_txt(txt, now)
    assert parsed["contact"] == ["mailto:security@example.net"] and len(parsed["expires"]) == 1
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


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Expires: 2027-06-01T00:00:00Z\n", "Contact is required"),
        ("Contact: mailto:a@b.c\n", "Expires must appear exactly once"),
        ("Contact: mailto:a@b.c\nExpires: 2027-06-01T00:00:00Z\nExpires: 2027-06-02T00:00:00Z\n", "exactly once"),
        ("Contact: mailto:a@b.c\nExpires: 2028-06-01T00:00:00Z\n", "less than a year"),
        ("Contact: mailto:a@b.c\nExpires: 2026-01-01T00:00:00Z\n", "in the future"),
        ("Contact: mailto:a@b.c\nExpires: 2027-06-01\n", "time zone|RFC 3339"),
        ("Contact: a@b.c\nExpires: 2027-06-01T00:00:00Z\n", "not an https:, mailto: or tel: URI"),
        ("Contact: mailto:a@b.c\nExpires: 2027-06-01T00:00:00Z\nColour: blue\n", "not an RFC 9116 field"),
    ],
)
def test_security_txt_checks_refuse_what_rfc_9116_forbids(text: str, why: str) -> None:
    now = dt.datetime(2026, 11, 30, 12, tzinfo=dt.timezone.utc)
    with pytest.raises(compliance.ComplianceError, match=why):
        compliance.parse_security_txt(text, now)
    ok = compliance.parse_security_txt("# c\n\nContact: mailto:a@b.c\nExpires: 2027-06-01T00:00:00Z\n", now)
    assert ok["contact"] == ["mailto:a@b.c"]


def test_every_provision_of_clauses_5_and_6_is_listed() -> None:
    """EN 303 645 V2.1.1: 68 provisions; each clause's provisions numbered 1..n without gaps."""
    per_clause = {"5.0": 1, "5.1": 5, "5.2": 3, "5.3": 16, "5.4": 4, "5.5": 8, "5.6": 9, "5.7": 2, "5.8": 3}
    per_clause |= {"5.9": 3, "5.10": 1, "5.11": 4, "5.12": 3, "5.13": 1, "6": 5}
    ids = [pv.pid for pv in compliance.PROVISIONS]
    assert ids == [f"{c}-{n}" for c, k in per_clause.items() for n in range(1, k + 1)]
    for pv in compliance.PROVISIONS:
        assert pv.modality in ("M", "R") and pv.kind in compliance.KINDS, pv
        assert bool(pv.evidence) == (pv.kind in ("sbd", "partial")), pv.pid  # evidence iff sbd claims a part
        assert pv.note or pv.kind == "sbd", pv.pid  # what is left to the manufacturer, or why it does not apply
        for ref in pv.evidence:
            f, _, name = ref.partition("::")
            assert (ROOT / f).is_file(), ref
            assert not name or f"def {name}(" in (ROOT / f).read_text(), ref


def test_an_unanswered_mandatory_provision_is_refused(tmp_path: Path) -> None:
    p = copy.deepcopy(PRODUCT)
    del p["evidence"]["5.8-3"]
    with pytest.raises(compliance.ComplianceError, match=r"5\.8-3 .*give evidence or a justification"):
        _gen(tmp_path, p)


def test_sbom_validates_and_lists_the_image(tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    app = ROOT / "examples" / "minimal"
    text = compliance.sbom(PRODUCT, app)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    assert bom["metadata"]["component"]["name"] == "GS-2"
    by_name = {c["name"]: c for c in bom["components"]}
    assert by_name["micropython"]["version"] == "1.27.0"
    sdk = {c["name"]: c["hashes"][0]["content"] for c in by_name["sbd"]["components"]}
    auth = ROOT / "sdk" / "sbd" / "auth.py"
    assert sdk["lib/sbd/auth.py"] == hashlib.sha256(auth.read_bytes()).hexdigest()
    assert len(sdk) == len(list((ROOT / "sdk" / "sbd").rglob("*.py")))
    app_files = sorted(p.relative_to(app).as_posix() for p in app.rglob("*") if p.is_file())
    assert app_files and all(f in by_name for f in app_files)
    for f in app_files:
        assert by_name[f]["hashes"] == [
            {"alg": "SHA-256", "content": hashlib.sha256((app / f).read_bytes()).hexdigest()}
        ]
    # the validator is not a rubber stamp: a broken document fails it
    bad = json.loads(text)
    bad["components"][0]["hashes"] = [{"alg": "SHA-256", "content": "not hex"}]
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bad)) is not None
    with pytest.raises(compliance.ComplianceError, match=r"firmware\.micropython"):
        compliance.sbom(_without("firmware"), app)


def test_sbom_of_a_device_image_hashes_the_bytes_on_its_filesystem(tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    from sbdtools import boards, fsimage

    src = tmp_path / "fs"
    files = {
        "main.py": b"import app\n",
        "lib/app.mpy": b"M\x06app",
        "lib/sbd/auth.mpy": b"M\x06auth",
        "lib/sbd/crypto/aead.mpy": b"M\x06aead",
        ".sbd/factory/identity.bin": b"SBDF per-device record",
        ".sbd/state/auth": b"per-device counter",
        ".sbd/app/a/app.mpy": b"M\x06installed release",
        ".sbd/app/current": b"a 3\n",
    }
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    img = tmp_path / "dev.img"
    img.write_bytes(fsimage.build_image(src, boards.load("pico_w")))
    text = compliance.sbom(PRODUCT, img)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    by_name = {c["name"]: c for c in bom["components"]}

    def digest(rel: str) -> list[dict[str, str]]:
        return [{"alg": "SHA-256", "content": hashlib.sha256(files[rel]).hexdigest()}]

    sdk = {c["name"]: c["hashes"] for c in by_name["sbd"]["components"]}
    assert sdk == {
        "lib/sbd/auth.mpy": digest("lib/sbd/auth.mpy"),
        "lib/sbd/crypto/aead.mpy": digest("lib/sbd/crypto/aead.mpy"),
    }
    assert by_name["main.py"]["hashes"] == digest("main.py") and by_name["lib/app.mpy"]["hashes"] == digest(
        "lib/app.mpy"
    )
    # an installed release boots, so it is listed; the factory record and state are data
    assert by_name[".sbd/app/a/app.mpy"]["hashes"] == digest(".sbd/app/a/app.mpy")
    assert ".sbd/app/current" in by_name
    assert not any(n.startswith((".sbd/factory", ".sbd/state")) for n in by_name)
    assert "pico_w image dev.img" in bom["metadata"]["component"]["description"]
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 4096)
    with pytest.raises(compliance.ComplianceError, match="no littlefs filesystem"):
        compliance.sbom(PRODUCT, junk)


def test_pdf_reads_back(tmp_path: Path) -> None:
    from pypdf import PdfReader

    docs = _gen(tmp_path, PRODUCT)
    out = tmp_path / "s.pdf"
    out.write_bytes(compliance.pdf(docs))
    text = " ".join((page.extract_text() or "") for page in PdfReader(out).pages)
    flat = " ".join(text.split())
    for fact in (
        "Statement of compliance",
        "Greenhouse sensor",
        "GS2-2026-11",
        "Example Sensors Ltd",
        "2031-12-31",
        "A. Person",
        "Leeds, 2026-11-30",
        "prepared by or on behalf of the manufacturer",
    ):
        assert fact in flat, fact
    for pv in compliance.PROVISIONS:
        assert pv.pid in flat, pv.pid


def test_refuses_a_support_period_shorter_than_the_previous_release(tmp_path: Path) -> None:
    p = copy.deepcopy(PRODUCT)
    p["support_period_end"] = "2029-01-01"
    with pytest.raises(compliance.ComplianceError, match="before the previous release"):
        _gen(tmp_path, p)


@pytest.mark.parametrize("how", ["fail", "drop"])
def test_refuses_when_an_evidence_test_did_not_pass(tmp_path: Path, how: str) -> None:
    with pytest.raises(compliance.ComplianceError, match=r"5\.1-5: evidence tests did not pass.*test_auth\.py"):
        _gen(tmp_path, PRODUCT, **{how: "tests/device/test_auth.py::test_back_off_grows_and_locks"})


def test_refuses_an_uncovered_provision_without_justification(tmp_path: Path) -> None:
    p = _without("justifications")
    p["justifications"] = {}
    p["evidence"].pop("6-2")
    with pytest.raises(compliance.ComplianceError, match=r"6-2 .*give evidence or a justification"):
        _gen(tmp_path, p)


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
        "sbom.cdx.json",
        "security.txt",
        "statement-of-compliance.md",
        "statement-of-compliance.pdf",
    ]
    bad = _junit(tmp_path, fail="tests/device/test_ota.py")
    r = CliRunner().invoke(group, [*args, str(bad), "--out", str(tmp_path / "out2")])
    assert r.exit_code != 0 and not (tmp_path / "out2").exists()


def test_junit_with_a_dtd_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "j.xml"
    p.write_text('<!DOCTYPE x [<!ENTITY a "b">]><testsuites/>')
    with pytest.raises(compliance.ComplianceError, match="DTD"):
        compliance.passed_tests(p)
