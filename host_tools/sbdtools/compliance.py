"""`sbd compliance`: compliance documents from a product file, the project's
audit and the test results of this run.

Generates, as Markdown: the UK PSTI statement of compliance (the content the
PSTI (Security Requirements for Relevant Connectable Products) Regulations 2023
ask of it), a table of ETSI EN 303 645 provisions with, for each, the sbd
feature and the test files that passed in this run or the manufacturer's
evidence or justification (5.0-1), the vulnerability disclosure policy as
SECURITY.md, and security.txt (RFC 9116).

It refuses (ComplianceError, nothing written) when a mandatory fact is missing
(manufacturer, address, product, model, batch, contact, support period, place,
signatory), when the support period ends before the previous release's, when a
test named as evidence did not pass (or did not run) in the given JUnit XML,
when a provision has neither evidence nor justification, or when the audit
finds an error-severity issue.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .audit import audit
from .errors import SbdError


class ComplianceError(SbdError):
    """The documents cannot honestly be produced."""


MAX_PRODUCT_BYTES = 256 << 10
MAX_JUNIT_BYTES = 64 << 20

# (provision, topic, sbd feature, evidence test files).  An empty feature means
# sbd does not cover it: the product file must give evidence or a justification.
PROVISIONS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "5.1-1",
        "No universal default passwords",
        "per-device passwords from `sbd provision`; `sbd audit` SBD002",
        ("tests/host/test_provision_passwords.py", "tests/vboard/test_sdk_auth.py"),
    ),
    (
        "5.1-2",
        "Unique passwords not guessable from public information",
        "random per-device passwords (sbdtools.provision.passwords)",
        ("tests/host/test_provision_passwords.py",),
    ),
    (
        "5.1-3",
        "Authentication uses best-practice cryptography",
        "sbd.auth PBKDF2 verifier",
        ("tests/device/test_auth.py",),
    ),
    (
        "5.1-4",
        "The user can change the authentication value",
        "sbd.auth password change",
        ("tests/vboard/test_sdk_auth.py",),
    ),
    ("5.1-5", "Brute-force protection", "sbd.auth back-off", ("tests/device/test_auth.py",)),
    ("5.2-1", "Vulnerability disclosure policy published", "SECURITY.md and security.txt from the product file", ()),
    ("5.2-2", "Disclosed vulnerabilities acted on in a timely manner", "", ()),
    ("5.2-3", "Continuous monitoring for security vulnerabilities", "", ()),
    (
        "5.3-1",
        "Software components securely updateable",
        "sbd.ota (TUF metadata, A/B slots)",
        ("tests/device/test_ota.py",),
    ),
    (
        "5.3-2",
        "Secure installation of updates",
        "sbd.ota signature checks, sbd.boot trial boot and roll-back",
        ("tests/device/test_ota.py", "tests/vboard/test_boot.py"),
    ),
    (
        "5.3-7",
        "Best-practice cryptography for updates",
        "Ed25519 signatures, SHA-256",
        ("tests/device/test_crypto_ed25519.py",),
    ),
    ("5.3-9", "Authenticity and integrity of updates verified", "sbd.ota", ("tests/device/test_ota.py",)),
    (
        "5.3-13",
        "Defined support period published",
        "the support period in the statement and on the device's factory record",
        ("tests/device/test_identity.py",),
    ),
    (
        "5.3-16",
        "Model designation clearly recognisable",
        "the model in the factory record and on labels",
        ("tests/device/test_identity.py",),
    ),
    (
        "5.4-1",
        "Sensitive security parameters stored securely",
        "sbd.creds (sealed per device), sbd.identity",
        ("tests/device/test_creds.py", "tests/device/test_identity.py"),
    ),
    ("5.4-3", "No hard-coded critical security parameters in software", "`sbd audit` SBD001 on the project", ()),
    (
        "5.5-1",
        "Communication uses best-practice cryptography",
        "sbd.net TLS verified by default",
        ("tests/device/test_net.py",),
    ),
    ("5.5-5", "Security-relevant changes only after authentication", "sbd.auth", ("tests/vboard/test_sdk_auth.py",)),
    (
        "5.6-1",
        "Unused interfaces disabled",
        "sbd.lockdown closes the REPL; `sbd audit` SBD003",
        ("tests/device/test_lockdown.py",),
    ),
    (
        "5.6-4",
        "Debug interfaces disabled",
        "sbd.lockdown; `sbd harden` (ESP32 eFuses)",
        ("tests/device/test_lockdown.py", "tests/host/test_harden.py"),
    ),
    (
        "5.7-1",
        "Software integrity verified (secure boot)",
        "`sbd harden` secure boot v2 (ESP32); sbd.boot",
        ("tests/host/test_harden.py",),
    ),
    (
        "5.8-2",
        "Sensitive data in transit encrypted",
        "sbd.net TLS, sbd.telemetry over TLS",
        ("tests/device/test_net.py",),
    ),
    (
        "5.10-1",
        "Telemetry examined for security anomalies",
        "sbd.telemetry anomaly rules",
        ("tests/device/test_telemetry.py",),
    ),
    ("5.11-1", "User data can be erased simply", "sbd.privacy.wipe_user_data", ("tests/device/test_creds.py",)),
    ("5.13-1", "Input data validated", "sbd.validate", ("tests/device/test_validate.py",)),
)

_REQUIRED = (
    ("manufacturer.name", "the manufacturer's name"),
    ("manufacturer.address", "the manufacturer's address"),
    ("product.name", "the product type"),
    ("product.model", "the model"),
    ("product.batch", "the batch (or serial range) the statement covers"),
    ("support_period_end", "the end date of the defined support period"),
    ("disclosure.contact", "a vulnerability disclosure contact"),
    ("disclosure.acknowledge_days", "the days within which a report is acknowledged"),
    ("disclosure.status_update_days", "the days between status updates to the reporter"),
    ("statement.place", "the place of issue"),
    ("statement.signatory", "the signatory's name"),
    ("statement.function", "the signatory's function"),
)


@dataclass(frozen=True)
class Documents:
    statement: str
    etsi_table: str
    security_md: str
    security_txt: str


def _get(doc: Mapping[str, Any], dotted: str) -> Any:
    cur: Any = doc
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


def load_product(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_PRODUCT_BYTES:
            raise ComplianceError(f"{path}: over {MAX_PRODUCT_BYTES} bytes; a product file is small")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ComplianceError(f"{path}: not a readable JSON product file ({type(e).__name__})") from None
    if not isinstance(doc, dict):
        raise ComplianceError(f"{path}: the product file must be a JSON object")
    return doc


def _date(doc: Mapping[str, Any], key: str) -> dt.date | None:
    v = _get(doc, key)
    if v is None:
        return None
    try:
        return dt.date.fromisoformat(str(v))
    except ValueError:
        raise ComplianceError(f"{key} must be a date, YYYY-MM-DD") from None


def passed_tests(junit: Path) -> dict[str, bool]:
    """test file (tests/x/test_y.py) -> True when every test case in it passed (and one ran)."""
    if junit.stat().st_size > MAX_JUNIT_BYTES:
        raise ComplianceError(f"{junit}: over {MAX_JUNIT_BYTES} bytes")
    text = junit.read_text(encoding="utf-8", errors="replace")
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ComplianceError(f"{junit}: DTDs are not accepted in test results")
    try:
        root = ET.fromstring(text)  # noqa: S314 - no DTD/entities (checked above)
    except ET.ParseError as e:
        raise ComplianceError(f"{junit}: not JUnit XML ({e})") from None
    out: dict[str, bool] = {}
    for case in root.iter("testcase"):
        cls = case.get("classname", "")
        parts = cls.split(".")
        # pytest: classname "tests.device.test_auth" or "tests.device.test_auth.TestX".
        for n in range(len(parts), 0, -1):
            if parts[n - 1].startswith("test_"):
                f = "/".join(parts[:n]) + ".py"
                break
        else:
            continue
        ok = not any(case.find(t) is not None for t in ("failure", "error", "skipped"))
        out[f] = out.get(f, True) and ok
    return out


def generate(
    product: Mapping[str, Any],
    project: Path,
    junit: Path,
    *,
    today: dt.date | None = None,
) -> Documents:
    """The documents, or ComplianceError naming every reason they cannot be produced."""
    today = today or dt.date.today()
    problems = [f"missing {what} ({key})" for key, what in _REQUIRED if _get(product, key) in (None, "", [])]
    end = _date(product, "support_period_end")
    prev = _date(product, "previous_support_period_end")
    if end and prev and end < prev:
        problems.append(f"the support period ends {end}, before the previous release's ({prev})")
    if end and end <= today:
        problems.append(f"the support period ended on {end}")
    tests = passed_tests(junit)
    justified: Mapping[str, Any] = product.get("justifications") or {}
    evidence: Mapping[str, Any] = product.get("evidence") or {}
    rows = []
    for pid, topic, feature, files in PROVISIONS:
        if pid in justified:
            rows.append((pid, topic, "not applicable", f"justification: {justified[pid]}"))
            continue
        bad = [f for f in files if not tests.get(f)]
        if bad:
            problems.append(f"{pid}: evidence tests did not pass in this run: {', '.join(bad)}")
        if feature and (files or pid in ("5.2-1", "5.4-3")):
            ev = ", ".join(f"`{f}` passed" for f in files) or "generated by `sbd compliance`"
            if pid in evidence:
                ev += f"; {evidence[pid]}"
            rows.append((pid, topic, f"sbd: {feature}", ev))
        elif pid in evidence:
            rows.append((pid, topic, "manufacturer", str(evidence[pid])))
        else:
            problems.append(
                f"{pid} ({topic}): sbd does not cover it; give evidence or a justification in the product file"
            )
    rep = audit(project)
    blocking = [f for f in rep.findings if f.severity == "error"]
    if blocking:
        problems.append(
            f"`sbd audit {project}` finds {len(blocking)} blocking issue(s), "
            f"e.g. {blocking[0].path}: {blocking[0].rule}"
        )
    if problems:
        raise ComplianceError("cannot produce a statement of compliance:\n  " + "\n  ".join(problems))
    assert end is not None
    return Documents(
        _statement(product, end, today),
        _table(rows, rep.scanned, today),
        _security_md(product, end),
        _security_txt(product, today),
    )


def _statement(p: Mapping[str, Any], end: dt.date, today: dt.date) -> str:
    def g(k: str) -> str:
        return str(_get(p, k))

    rep = _get(p, "manufacturer.representative")
    rep_line = f"- Authorised representative: {rep}\n" if rep else ""
    return f"""# Statement of compliance

UK Product Security and Telecommunications Infrastructure (Security Requirements for
Relevant Connectable Products) Regulations 2023.

- Product type: {g("product.name")}, model {g("product.model")}
- Batch: {g("product.batch")}
- Manufacturer: {g("manufacturer.name")}, {g("manufacturer.address")}
{rep_line}
This statement of compliance has been prepared by or on behalf of the manufacturer.

In the opinion of the manufacturer, the manufacturer has complied with the applicable
security requirements of Schedule 1 to the Regulations (no universal default passwords;
a published way to report security issues; the published minimum security update period).

Defined support period: security updates are provided until {end.isoformat()}
(from first supply to that date).

Signed: {g("statement.signatory")}, {g("statement.function")}
Place and date of issue: {g("statement.place")}, {today.isoformat()}

Generated by sbd {__version__} `sbd compliance`; sign before publishing.
"""


def _table(rows: list[tuple[str, str, str, str]], scanned: list[str], today: dt.date) -> str:
    lines = [
        "# ETSI EN 303 645 provisions",
        "",
        f"Generated {today.isoformat()} by sbd {__version__} from this run's test results and "
        f"`sbd audit` ({len(scanned)} files, no blocking findings).",
        "",
        "| provision | topic | covered by | evidence or justification |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines) + "\n"


def _security_md(p: Mapping[str, Any], end: dt.date) -> str:
    d = p["disclosure"]
    policy = f"\nPolicy: {d['policy_url']}\n" if d.get("policy_url") else ""
    return f"""# Security policy

## Reporting a vulnerability

Report security issues in {p["product"]["name"]} ({p["product"]["model"]}) to {d["contact"]}.
We acknowledge a report within {int(d["acknowledge_days"])} days and send status updates at least every
{int(d["status_update_days"])} days until the issue is resolved.
{policy}
## Supported versions

{p["product"]["model"]} receives security updates until {end.isoformat()}.
"""


def _security_txt(p: Mapping[str, Any], today: dt.date) -> str:
    d = p["disclosure"]
    contact = str(d["contact"])
    if not re.match(r"^(mailto:|https://|tel:)", contact):
        contact = f"mailto:{contact}" if "@" in contact else contact
    expires = dt.datetime.combine(today + dt.timedelta(days=364), dt.time(0, 0), tzinfo=dt.timezone.utc)
    lines = [f"Contact: {contact}", f"Expires: {expires.strftime('%Y-%m-%dT%H:%M:%SZ')}"]
    if d.get("policy_url"):
        lines.append(f"Policy: {d['policy_url']}")
    if d.get("languages"):
        lines.append(f"Preferred-Languages: {', '.join(d['languages'])}")
    return "\n".join(lines) + "\n"


def write(docs: Documents, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (
        ("statement-of-compliance.md", docs.statement),
        ("etsi-en-303-645.md", docs.etsi_table),
        ("SECURITY.md", docs.security_md),
        ("security.txt", docs.security_txt),
    ):
        (out / name).write_text(text)
        paths.append(out / name)
    return paths
