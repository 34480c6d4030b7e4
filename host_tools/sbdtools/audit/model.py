"""What an audit finds: rules, severities, findings."""

from __future__ import annotations

from dataclasses import dataclass, field

SEVERITIES = ("note", "warning", "error")


def rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: str
    summary: str
    help: str
    # ETSI EN 303 645 provisions the rule gives evidence for.
    provisions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    path: str  # '/'-separated, relative to the scanned root; "x.uf2!/main.py" inside an image
    line: int  # 1-based; 0 when the input has no lines (.mpy, raw image bytes)
    message: str
    snippet: str = ""  # never the secret itself


@dataclass
class Suppressed:
    finding: Finding
    reason: str


@dataclass
class Report:
    root: str
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    scanned: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)

    def worst(self) -> str | None:
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=rank)

    def fails(self, fail_on: str) -> bool:
        """True when a finding is at or above ``fail_on`` ("never" never fails)."""
        if fail_on == "never":
            return False
        return any(rank(f.severity) >= rank(fail_on) for f in self.findings)


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "SBD000",
            "bad-suppression",
            "error",
            "An inline suppression without a reason or for an unknown rule",
            "Write `# sbd-audit: ignore RULE why this is safe` on the line or the line above; "
            "a suppression without a reason suppresses nothing.",
        ),
        Rule(
            "SBD001",
            "hardcoded-credential",
            "error",
            "A password, key or token written into the code or image",
            "Keep secrets out of code: sbd.creds stores them per device, bound to the factory record "
            "(docs/creds.md); provisioning gives each device its own password.",
            ("5.1-1", "5.4-1", "5.4-3"),
        ),
        Rule(
            "SBD002",
            "default-password",
            "error",
            "A universal default password (WebREPL's stock password among them)",
            "Universal default passwords are banned (PSTI, ETSI EN 303 645 5.1-1): give each device "
            "a unique password at provisioning (`sbd provision`) or let the user set one.",
            ("5.1-1", "5.1-2"),
        ),
        Rule(
            "SBD003",
            "repl-open",
            "error",
            "WebREPL enabled or the REPL left open on a production build",
            "Production devices should not run WebREPL or mirror the REPL onto another stream: "
            "sbd.lockdown closes the REPL (docs/hardening.md).",
            ("5.6-1", "5.6-2", "5.6-4"),
        ),
        Rule(
            "SBD004",
            "tls-no-verify",
            "error",
            "TLS without certificate verification",
            "Verify the server: ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) with CERT_REQUIRED and a pinned CA "
            "(sbd.net does this). MicroPython's ssl.wrap_socket() verifies nothing unless told to.",
            ("5.5-1", "5.5-2"),
        ),
        Rule(
            "SBD005",
            "eval-external",
            "error",
            "eval/exec/compile on a value that is not a literal",
            "Never evaluate received data: parse it with sbd.validate or json and check it.",
            ("5.13-1",),
        ),
        Rule(
            "SBD006",
            "secret-logged",
            "warning",
            "A secret written to a print or a log",
            "Logs leave the device (serial consoles, telemetry): log that a credential was used, never its value.",
            ("5.8-2", "6.1"),
        ),
        Rule(
            "SBD007",
            "unsigned-update",
            "error",
            "Update code that installs downloaded code without a signature check",
            "Install only signed updates: sbd.ota verifies TUF metadata and Ed25519 signatures (docs/ota.md).",
            ("5.3-2", "5.3-5", "5.7-1"),
        ),
        Rule(
            "SBD008",
            "no-factory-record-check",
            "warning",
            "An app that starts network services without checking the factory record",
            "Load the factory record before networking (sbd.identity.load(), or boot through sbd.boot) so "
            "an unprovisioned or tampered board refuses to come online (docs/identity.md).",
            ("5.4-1", "5.7-1"),
        ),
    )
}
