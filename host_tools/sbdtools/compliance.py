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
import hashlib
import json
import os
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


@dataclass(frozen=True)
class Provision:
    """One ETSI EN 303 645 (V2.1.1) provision and what sbd does about it."""

    pid: str
    modality: str  # "M" (shall) or "R" (should); conditional ones are marked by their text, not here
    topic: str
    kind: str  # "sbd", "partial", "manufacturer" or "n/a"
    feature: str
    evidence: tuple[str, ...] = ()
    note: str = ""


KINDS = ("sbd", "partial", "manufacturer", "n/a")

# (provision, modality, topic, kind, sbd feature, evidence, note)
#   kind "sbd": sbd provides it; every evidence test must have passed in this run.
#   kind "partial": sbd provides the named part (evidence must pass); the note says what the
#     manufacturer adds (the product file may record that as evidence).
#   kind "manufacturer": sbd does not cover it; a mandatory ("M") one needs evidence or a
#     justification in the product file or no statement is produced; a recommendation ("R")
#     without either is listed as the manufacturer's responsibility.
#   kind "n/a": does not apply to products built on sbd, for the reason in the note (5.0-1).
# Evidence is "tests/x/test_y.py::test_name" (that test, on every runtime it runs on) or a whole file.
_A = "tests/device/test_auth.py"
_ID = "tests/device/test_identity.py"
_OTA = "tests/device/test_ota.py"
_SLOTS = "tests/device/test_ota_slots.py"
_NET = "tests/device/test_net.py"
_TEL = "tests/device/test_telemetry.py"
_CREDS = "tests/device/test_creds.py"
_PW = "tests/host/test_provision_passwords.py"
_MQTT = "tests/vboard/test_telemetry_mqtt.py"
PROVISIONS: tuple[Provision, ...] = (
    Provision(
        "5.0-1",
        "M",
        "Justification recorded for each provision not applicable or not fulfilled",
        "sbd",
        "`sbd compliance` refuses a table with an open mandatory provision and records each justification",
        (
            "tests/host/test_compliance.py::test_refuses_an_uncovered_provision_without_justification",
            "tests/host/test_compliance.py::test_every_provision_of_clauses_5_and_6_is_listed",
        ),
    ),
    Provision(
        "5.1-1",
        "M",
        "Passwords unique per device or defined by the user",
        "sbd",
        "per-device passwords from `sbd provision`; `sbd audit` SBD002 finds universal defaults",
        (
            f"{_PW}::test_ten_thousand_identities_get_distinct_passwords",
            "tests/vboard/test_sdk_auth.py::test_provision_then_check_on_the_board",
        ),
    ),
    Provision(
        "5.1-2",
        "M",
        "Pre-installed passwords not derivable from public information or automated attacks",
        "sbd",
        "passwords from the CSPRNG, nothing derived from serial, MAC or unique id (sbdtools.provision.passwords)",
        (
            f"{_PW}::test_no_password_is_computable_from_its_identifiers",
            f"{_PW}::test_every_character_comes_from_the_csprng",
            f"{_PW}::test_policy_gives_at_least_80_bits",
        ),
    ),
    Provision(
        "5.1-3",
        "M",
        "Authentication uses best-practice cryptography",
        "sbd",
        "sbd.auth: PBKDF2-HMAC-SHA256 verifier, constant-time compare",
        (
            f"{_PW}::test_verifier_is_pbkdf2_hmac_sha256",
            "tests/device/test_crypto_kdf.py::test_pbkdf2_wycheproof_all_cases",
        ),
    ),
    Provision(
        "5.1-4",
        "M",
        "A simple mechanism to change the authentication value",
        "sbd",
        "sbd.auth change() with password rules",
        (
            f"{_A}::test_change_password_rules",
            "tests/vboard/test_sdk_auth.py::test_power_cut_anywhere_in_a_password_change",
        ),
    ),
    Provision(
        "5.1-5",
        "M",
        "Brute-force attacks via network interfaces made impracticable",
        "sbd",
        "sbd.auth back-off (counted on flash before the check, survives reboots)",
        (
            f"{_A}::test_back_off_grows_and_locks",
            f"{_A}::test_count_first_then_check",
            "tests/vboard/test_sdk_auth.py::test_back_off_survives_a_reboot",
        ),
    ),
    Provision(
        "5.2-1",
        "M",
        "Vulnerability disclosure policy publicly available",
        "partial",
        "SECURITY.md and security.txt (RFC 9116) generated from the product file",
        ("tests/host/test_compliance.py::test_security_txt_parses_back",),
        "the manufacturer publishes them (website, /.well-known/security.txt)",
    ),
    Provision(
        "5.2-2",
        "R",
        "Disclosed vulnerabilities acted on in a timely manner",
        "manufacturer",
        "",
        (),
        "the manufacturer's vulnerability handling process",
    ),
    Provision(
        "5.2-3",
        "R",
        "Continual monitoring for, identifying and rectifying vulnerabilities",
        "partial",
        "`sbd audit` in CI; the CycloneDX SBOM of the device image lists what to monitor",
        ("tests/host/test_compliance.py::test_sbom_validates_and_lists_the_image",),
        "the manufacturer monitors advisories for the components in the SBOM",
    ),
    Provision(
        "5.3-1",
        "R",
        "All software components securely updateable",
        "partial",
        "sbd.ota: signed releases of the app into A/B slots",
        (f"{_SLOTS}::test_install_boots_on_trial_and_confirm_keeps_it",),
        "MicroPython itself is updated with `sbd flash` (not over the air); the SDK is not yet inside a release",
    ),
    Provision(
        "5.3-2",
        "M",
        "Mechanisms for the secure installation of updates",
        "sbd",
        "sbd.ota verifies TUF metadata before installing; sbd.boot trial boot and roll-back",
        (
            f"{_SLOTS}::test_a_tampered_download_leaves_the_running_release",
            f"{_SLOTS}::test_an_unconfirmed_release_rolls_back_by_itself",
            "tests/vboard/test_ota_powercut.py::test_power_cut_at_every_write_of_an_install",
        ),
    ),
    Provision(
        "5.3-3",
        "M",
        "Updates simple for the user to apply",
        "manufacturer",
        "",
        (),
        "the product's update flow (the app calls sbd.ota.client; how the user triggers it is the product's)",
    ),
    Provision(
        "5.3-4",
        "R",
        "Automatic mechanisms used for software updates",
        "manufacturer",
        "",
        (),
        "the app schedules sbd.ota.client checks",
    ),
    Provision(
        "5.3-5",
        "R",
        "Check for updates after initialization and then periodically",
        "manufacturer",
        "",
        (),
        "the app schedules sbd.ota.client checks",
    ),
    Provision(
        "5.3-6",
        "R",
        "Automatic updates and notifications enabled and configurable",
        "manufacturer",
        "",
        (),
        "the product's settings",
    ),
    Provision(
        "5.3-7",
        "M",
        "Best-practice cryptography for secure update mechanisms",
        "sbd",
        "Ed25519 (strict verification), SHA-256, TUF thresholds",
        (
            "tests/device/test_crypto_ed25519.py::test_rfc8032",
            "tests/device/test_crypto_ed25519.py::test_cofactored_equation",
            "tests/device/test_crypto_ed25519_taming.py",
        ),
    ),
    Provision(
        "5.3-8", "M", "Security updates are timely", "manufacturer", "", (), "the manufacturer's release process"
    ),
    Provision(
        "5.3-9",
        "R",
        "Authenticity and integrity of software updates verified",
        "sbd",
        "sbd.ota: signatures, thresholds, hashes and lengths of every target",
        (
            f"{_OTA}::test_pinned_trust_root",
            "tests/device/test_ota_differential.py::test_endless_and_tampered_targets_are_refused",
        ),
    ),
    Provision(
        "5.3-10",
        "M",
        "Updates over a network verified via a trust relationship",
        "sbd",
        "sbd.ota: the pinned TUF root, rollback and freeze protection",
        (
            f"{_OTA}::test_pinned_trust_root",
            "tests/device/test_ota_differential.py::test_rollback_is_refused",
            "tests/device/test_ota_differential.py::test_freeze_is_refused",
        ),
    ),
    Provision(
        "5.3-11",
        "R",
        "User informed that a security update is required and of the risks it mitigates",
        "manufacturer",
        "",
        (),
        "the product's user interface and release notes",
    ),
    Provision(
        "5.3-12",
        "R",
        "User notified when an update will disrupt basic functioning",
        "manufacturer",
        "",
        (),
        "the product's user interface",
    ),
    Provision(
        "5.3-13",
        "M",
        "Defined support period published",
        "partial",
        "the support period in the statement of compliance and SECURITY.md; stored in the factory record",
        (f"{_ID}::test_provision_and_load",),
        "the manufacturer publishes it where the product is sold",
    ),
    Provision(
        "5.3-14",
        "R",
        "Rationale and support published for devices that cannot be updated",
        "n/a",
        "",
        (),
        "devices built on sbd can be updated (sbd.ota, `sbd flash`)",
    ),
    Provision(
        "5.3-15",
        "R",
        "Devices that cannot be updated are isolable and replaceable",
        "n/a",
        "",
        (),
        "devices built on sbd can be updated (sbd.ota, `sbd flash`)",
    ),
    Provision(
        "5.3-16",
        "M",
        "Model designation clearly recognisable",
        "partial",
        "the model in the factory record and on the printed label",
        (
            f"{_ID}::test_provision_and_load",
            "tests/host/test_provision_labels.py::test_qr_codes_decode_to_the_same_values",
        ),
        "the label is fixed on the device or its packaging",
    ),
    Provision(
        "5.4-1",
        "M",
        "Sensitive security parameters in persistent storage stored securely",
        "sbd",
        "sbd.creds (AEAD under a key bound to the board), sbd.identity (MAC'd record)",
        (
            f"{_CREDS}::test_every_bit_flip_and_truncation_is_detected",
            f"{_CREDS}::test_a_store_from_another_board_does_not_open",
            f"{_ID}::test_every_bit_flip_and_truncation_is_refused",
        ),
    ),
    Provision(
        "5.4-2",
        "M",
        "Hard-coded unique per-device identity resists tampering",
        "partial",
        "the factory record is bound to the board's unique id and MAC'd; a copy or edit is refused",
        (
            f"{_ID}::test_copied_to_another_board_is_refused",
            f"{_ID}::test_uid_edited_to_match_the_new_board_is_refused",
        ),
        "physical resistance needs ESP32 flash encryption (`sbd harden`); see the threat model per board",
    ),
    Provision(
        "5.4-3",
        "M",
        "No hard-coded critical security parameters in device software",
        "sbd",
        "`sbd audit` SBD001 on the project in this run (no blocking finding)",
        ("tests/host/test_audit_corpus.py::test_every_rule_has_positive_and_negative_cases",),
    ),
    Provision(
        "5.4-4",
        "M",
        "Critical security parameters for updates and associated services unique per device",
        "sbd",
        "per-device broker credentials and keys derived from each board's own root key; updates use public keys only",
        (
            "tests/vboard/test_telemetry_mqtt.py::test_a_device_cannot_speak_for_another_nor_log_in_as_one",
            f"{_ID}::test_root_key_mixes_both_sources",
        ),
    ),
    Provision(
        "5.5-1",
        "M",
        "Best-practice cryptography to communicate securely",
        "sbd",
        "sbd.net: TLS with certificate and hostname checks by default",
        (f"{_MQTT}::test_tls_verifies_the_broker_on_real_micropython", f"{_NET}::test_tls_needs_a_ca"),
    ),
    Provision(
        "5.5-2",
        "R",
        "Reviewed or evaluated implementations for network and security functions",
        "partial",
        "sbd's cryptography is checked against RFC and Wycheproof vectors on both runtimes",
        ("tests/device/test_crypto_ed25519_wycheproof.py", "tests/device/test_crypto_kdf.py::test_hkdf_wycheproof"),
        "an independent review or evaluation is the manufacturer's to commission",
    ),
    Provision(
        "5.5-3",
        "R",
        "Cryptographic algorithms and primitives updateable",
        "manufacturer",
        "",
        (),
        "sbd's algorithms are Python modules in the image; shipping the SDK inside a signed release is not built yet",
    ),
    Provision(
        "5.5-4",
        "R",
        "Network access to device functionality only after authentication",
        "partial",
        "sbd.auth; the env_sensor example serves nothing but its login page before authentication",
        ("tests/vboard/test_example_env_sensor.py::test_login_settings_and_delete_my_data",),
        "each product's own network services",
    ),
    Provision(
        "5.5-5",
        "M",
        "Security-relevant configuration changes via a network only after authentication",
        "partial",
        "sbd.auth sessions in the env_sensor example; password change needs the old password",
        (
            f"{_A}::test_change_password_rules",
            "tests/vboard/test_example_env_sensor.py::test_login_settings_and_delete_my_data",
        ),
        "each product's own network services",
    ),
    Provision(
        "5.5-6",
        "R",
        "Critical security parameters encrypted in transit",
        "sbd",
        "sbd.net TLS for MQTT and HTTPS",
        (f"{_MQTT}::test_tls_verifies_the_broker_on_real_micropython",),
    ),
    Provision(
        "5.5-7",
        "M",
        "Confidentiality of critical security parameters over remotely accessible interfaces",
        "sbd",
        "sbd.net TLS; secrets never in events, telemetry or errors",
        (
            f"{_MQTT}::test_the_sdk_security_events_reach_the_wire_without_secrets",
            f"{_CREDS}::test_no_secret_in_exceptions_events_or_repr",
        ),
    ),
    Provision(
        "5.5-8",
        "M",
        "Secure management processes for critical security parameters",
        "manufacturer",
        "",
        (),
        "the manufacturer's key management (sbd gives escrowed passwords and passphrase-protected signing keys)",
    ),
    Provision(
        "5.6-1",
        "M",
        "Unused network and logical interfaces disabled",
        "partial",
        "sbd.lockdown production profile: WebREPL stopped, no REPL fallback; `sbd audit` SBD003",
        (
            "tests/device/test_lockdown.py::test_production_error_resets_and_reports_type_only",
            "tests/vboard/test_sdk_lockdown.py::test_production_app_error_resets_without_repl",
        ),
        "each product's own network interfaces",
    ),
    Provision(
        "5.6-2",
        "M",
        "Minimal unauthenticated disclosure of security-relevant information",
        "manufacturer",
        "",
        (),
        "each product's own network services (sbd's errors and events carry no secrets)",
    ),
    Provision(
        "5.6-3",
        "R",
        "Physical interfaces not unnecessarily exposed",
        "manufacturer",
        "",
        (),
        "the product's hardware design",
    ),
    Provision(
        "5.6-4",
        "M",
        "Physically accessible debug interfaces disabled in software",
        "partial",
        "sbd.lockdown closes the REPL; `sbd harden` disables ESP32 JTAG and download mode through eFuses",
        (
            "tests/vboard/test_sdk_lockdown.py::test_production_app_error_resets_without_repl",
            "tests/host/test_harden.py::test_whole_flow_on_virtual_efuses",
        ),
        "RP2040/RP2350 SWD and BOOTSEL stay open (see the threat model per board)",
    ),
    Provision(
        "5.6-5", "R", "Only software services used or required are enabled", "manufacturer", "", (), "the product's app"
    ),
    Provision(
        "5.6-6",
        "R",
        "Code minimised to the necessary functionality",
        "partial",
        "the SDK is packaged by capability: a board gets only the modules its app imports",
        ("tests/host/test_sdk_packaging.py::test_mip_install_puts_exactly_a_capability_on_a_board",),
        "the product's app",
    ),
    Provision(
        "5.6-7",
        "R",
        "Software runs with least necessary privileges",
        "n/a",
        "",
        (),
        "MicroPython runs all code in one interpreter at one privilege level; the boards have no OS to separate it",
    ),
    Provision(
        "5.6-8",
        "R",
        "Hardware-level access control for memory",
        "n/a",
        "",
        (),
        "MicroPython on RP2040/RP2350/ESP32 gives Python code no memory protection to configure",
    ),
    Provision(
        "5.6-9",
        "R",
        "Secure development processes followed",
        "partial",
        "`sbd audit` (SARIF for code scanning) and the test suite of this run",
        ("tests/host/test_audit.py::test_the_sdk_and_its_examples_audit_clean",),
        "the manufacturer's development process",
    ),
    Provision(
        "5.7-1",
        "R",
        "Software verified with secure boot mechanisms",
        "partial",
        "sbd.boot checks the slot manifest at every boot; `sbd harden` secure boot v2 on ESP32",
        (
            f"{_SLOTS}::test_a_damaged_slot_falls_back_or_goes_to_safe_mode",
            "tests/host/test_harden.py::test_whole_flow_on_virtual_efuses",
        ),
        "RP2040 has no secure boot; RP2350 secure boot is not configured by sbd",
    ),
    Provision(
        "5.7-2",
        "R",
        "Unauthorised software change alerts the user and limits connectivity",
        "partial",
        "sbd.boot falls back or enters safe mode and emits boot.mismatch / boot.safe_mode events",
        (f"{_SLOTS}::test_a_damaged_pointer_is_safe_mode",),
        "how the product alerts its user",
    ),
    Provision(
        "5.8-1",
        "R",
        "Personal data in transit to services protected with best-practice cryptography",
        "sbd",
        "sbd.net TLS",
        (f"{_MQTT}::test_tls_verifies_the_broker_on_real_micropython",),
    ),
    Provision(
        "5.8-2",
        "R",
        "Sensitive personal data in transit protected",
        "sbd",
        "sbd.net TLS",
        (f"{_MQTT}::test_tls_verifies_the_broker_on_real_micropython",),
    ),
    Provision(
        "5.8-3", "M", "External sensing capabilities documented", "manufacturer", "", (), "the product's documentation"
    ),
    Provision(
        "5.9-1",
        "R",
        "Resilience to outages of data networks and power",
        "partial",
        "atomic writes with power-cut sweeps; bounded telemetry queue through broker outages",
        (
            "tests/vboard/test_powercut.py::test_cut_at_every_flash_operation_of_a_file_update",
            f"{_MQTT}::test_broker_outage_keeps_the_device_working_and_loses_nothing_queued",
        ),
        "the product's own functions",
    ),
    Provision(
        "5.9-2",
        "R",
        "Locally functional without network; clean recovery after power loss",
        "partial",
        "sbd's stores survive a power cut at every write",
        (
            "tests/vboard/test_sdk_creds.py::test_power_cut_at_every_write_of_a_set",
            "tests/vboard/test_sdk_auth.py::test_power_cut_anywhere_in_a_failed_check_never_gives_a_free_try",
        ),
        "the product's own functions",
    ),
    Provision(
        "5.9-3",
        "R",
        "Orderly connection to networks",
        "sbd",
        "sbd.net reconnect back-off with jitter, capped",
        (f"{_NET}::test_backoff_grows_with_jitter_and_is_capped", f"{_NET}::test_backoff_jitter_spreads_a_fleet"),
    ),
    Provision(
        "5.10-1",
        "R",
        "Telemetry examined for security anomalies",
        "sbd",
        "sbd.telemetry anomaly rules",
        (f"{_TEL}::test_rule_raises_one_alert_per_window",),
    ),
    Provision(
        "5.11-1",
        "M",
        "User data can be erased from the device simply",
        "sbd",
        "sbd.privacy.wipe_user_data",
        (
            f"{_CREDS}::test_privacy_wipe_clears_user_data_and_keeps_the_factory_record",
            "tests/vboard/test_sdk_creds.py::test_power_cut_at_every_write_of_the_user_data_wipe",
        ),
    ),
    Provision(
        "5.11-2",
        "R",
        "Personal data can be removed from associated services",
        "manufacturer",
        "",
        (),
        "the product's services",
    ),
    Provision(
        "5.11-3",
        "R",
        "Clear instructions on deleting personal data",
        "manufacturer",
        "",
        (),
        "the product's documentation",
    ),
    Provision(
        "5.11-4",
        "R",
        "Clear confirmation that personal data has been deleted",
        "manufacturer",
        "",
        (),
        "the product's user interface (sbd.privacy reports when the wipe is complete)",
    ),
    Provision(
        "5.12-1",
        "R",
        "Installation and maintenance in minimal steps, usable security",
        "manufacturer",
        "",
        (),
        "the product's design",
    ),
    Provision(
        "5.12-2",
        "R",
        "Guidance on setting up the device securely",
        "manufacturer",
        "",
        (),
        "the product's documentation",
    ),
    Provision(
        "5.12-3",
        "R",
        "Guidance on checking the device is set up securely",
        "manufacturer",
        "",
        (),
        "the product's documentation",
    ),
    Provision(
        "5.13-1",
        "M",
        "Input data validated",
        "partial",
        "sbd.validate (strict JSON, schemas, forms)",
        (
            "tests/device/test_validate.py::test_unknown_field_rejected_by_default",
            "tests/device/test_validate_strict.py::test_item2_lax_json_is_refused",
        ),
        "the product's app validates its own inputs with it",
    ),
    Provision(
        "6-1",
        "M",
        "Clear information on what personal data is processed, how, by whom and why",
        "manufacturer",
        "",
        (),
        "the product's privacy information",
    ),
    Provision(
        "6-2",
        "M",
        "Consent for processing personal data obtained in a valid way",
        "manufacturer",
        "",
        (),
        "the product's consent flow",
    ),
    Provision(
        "6-3",
        "M",
        "Consent can be withdrawn at any time",
        "manufacturer",
        "",
        (),
        "the product's consent flow (sbd.privacy wipes the data on the device)",
    ),
    Provision(
        "6-4",
        "R",
        "Telemetry limited to the personal data necessary",
        "partial",
        "sbd.telemetry sends only allow-listed fields and refuses secret-looking ones",
        (
            f"{_TEL}::test_allow_list_drops_undeclared_fields_and_odd_values",
            f"{_TEL}::test_define_refuses_secret_looking_fields",
        ),
        "the product chooses what it declares",
    ),
    Provision(
        "6-5",
        "M",
        "Information on what telemetry is collected, how it is used, by whom and why",
        "manufacturer",
        "",
        (),
        "the product's privacy information (the telemetry schema lists every field)",
    ),
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
    rows: list[tuple[str, str, str, str, str]]


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
    """Test results by file (``tests/x/test_y.py``) and by test (``tests/x/test_y.py::test_z``):
    True when every case of it passed (all parameters, both runtimes) and at least one ran."""
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
        name = case.get("name", "").partition("[")[0]  # test_x[cpython], test_x[param] -> test_x
        for key in (f, f"{f}::{name}"):
            out[key] = out.get(key, True) and ok
    return out


def _rows(
    product: Mapping[str, Any], tests: Mapping[str, bool], problems: list[str]
) -> list[tuple[str, str, str, str, str]]:
    """(provision, M/R, topic, covered by, evidence or justification) for every provision."""
    justified: Mapping[str, Any] = product.get("justifications") or {}
    evidence: Mapping[str, Any] = product.get("evidence") or {}
    rows = []
    for pv in PROVISIONS:
        mine = str(evidence[pv.pid]) if pv.pid in evidence else ""
        if pv.pid in justified:
            rows.append(
                (
                    pv.pid,
                    pv.modality,
                    pv.topic,
                    "not applicable or not fulfilled",
                    f"justification: {justified[pv.pid]}",
                )
            )
            continue
        if pv.kind in ("sbd", "partial"):
            bad = [t for t in pv.evidence if not tests.get(t)]
            if bad:
                problems.append(f"{pv.pid}: evidence tests did not pass in this run: {', '.join(bad)}")
            ev = "; ".join(f"`{t}` passed" for t in pv.evidence)
            if pv.kind == "partial":
                ev += f"; manufacturer: {mine or pv.note}"
            elif mine:
                ev += f"; {mine}"
            rows.append((pv.pid, pv.modality, pv.topic, f"sbd: {pv.feature}", ev))
        elif pv.kind == "n/a":
            rows.append((pv.pid, pv.modality, pv.topic, "not applicable", f"justification (sbd): {pv.note}"))
        elif mine:
            rows.append((pv.pid, pv.modality, pv.topic, "manufacturer", mine))
        elif pv.modality == "M":
            problems.append(
                f"{pv.pid} ({pv.topic}): sbd does not cover it; give evidence or a justification in the product file"
            )
        else:
            rows.append(
                (
                    pv.pid,
                    pv.modality,
                    pv.topic,
                    "manufacturer's responsibility",
                    f"no evidence or justification given ({pv.note})",
                )
            )
    return rows


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
    contact = _get(product, "disclosure.contact")
    if contact and not _contact_uri(str(contact)):
        problems.append("disclosure.contact must be an e-mail address or an https:, mailto: or tel: URI")
    rows = _rows(product, passed_tests(junit), problems)
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
        rows,
    )


def _statement(p: Mapping[str, Any], end: dt.date, today: dt.date) -> str:
    def g(k: str) -> str:
        return str(_get(p, k))

    rep = _get(p, "manufacturer.representative")
    rep_line = f"- Authorised representative: {rep}\n" if rep else ""
    return f"""# Statement of compliance

The Product Security and Telecommunications Infrastructure (Security Requirements for
Relevant Connectable Products) Regulations 2023 (UK).

- Product type: {g("product.name")}, model {g("product.model")}
- Batch: {g("product.batch")}
- Manufacturer: {g("manufacturer.name")}, {g("manufacturer.address")}
{rep_line}
This statement of compliance has been prepared by or on behalf of the manufacturer.

In the opinion of the manufacturer, the manufacturer has complied with the applicable
security requirements in Schedule 1 to the Regulations (no universal default passwords;
information on how to report security issues; information on minimum security update periods).

Defined support period: security updates are provided until {end.isoformat()}
(the period of time from first supply to that end date).

Signature: ______________________
Signed by: {g("statement.signatory")}, {g("statement.function")}
Place and date of issue: {g("statement.place")}, {today.isoformat()}

Generated by sbd {__version__} `sbd compliance`; sign before publishing.
"""


def _table(rows: list[tuple[str, str, str, str, str]], scanned: list[str], today: dt.date) -> str:
    counts = {k: sum(1 for r in rows if r[3].startswith(k)) for k in ("sbd:", "manufacturer", "not applicable")}
    lines = [
        "# ETSI EN 303 645 provisions",
        "",
        f"Generated {today.isoformat()} by sbd {__version__} from this run's test results and "
        f"`sbd audit` ({len(scanned)} files, no blocking findings). {len(rows)} provisions (clauses 5 and 6 of "
        f"V2.1.1): {counts['sbd:']} covered in whole or part by sbd, {counts['manufacturer']} the manufacturer's, "
        f"{counts['not applicable']} not applicable or not fulfilled with a justification. "
        "M: mandatory (shall), R: recommendation (should).",
        "",
        "| provision | M/R | topic | covered by | evidence or justification |",
        "|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
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


def _contact_uri(contact: str) -> str:
    """RFC 9116 Contact is a URI: https:, mailto: or tel:; a bare e-mail address becomes mailto:."""
    if re.fullmatch(r"(https://|mailto:|tel:)\S+", contact):
        return contact
    if re.fullmatch(r"[^@\s:/]+@[^@\s:/]+\.[^@\s:/]+", contact):
        return f"mailto:{contact}"
    return ""


def _security_txt(p: Mapping[str, Any], today: dt.date) -> str:
    d = p["disclosure"]
    expires = dt.datetime.combine(today + dt.timedelta(days=364), dt.time(0, 0), tzinfo=dt.timezone.utc)
    lines = [f"Contact: {_contact_uri(str(d['contact']))}", f"Expires: {expires.strftime('%Y-%m-%dT%H:%M:%SZ')}"]
    if d.get("policy_url"):
        lines.append(f"Policy: {d['policy_url']}")
    if d.get("languages"):
        lines.append(f"Preferred-Languages: {', '.join(d['languages'])}")
    return "\n".join(lines) + "\n"


SECURITY_TXT_FIELDS = (
    "acknowledgments",
    "canonical",
    "contact",
    "encryption",
    "expires",
    "hiring",
    "policy",
    "preferred-languages",
)


def parse_security_txt(text: str, now: dt.datetime) -> dict[str, list[str]]:
    """Fields of a security.txt (RFC 9116, unsigned), checked: at least one Contact, each a URI;
    exactly one Expires, an RFC 3339 time in the future and (as section 2.5.5 recommends) less
    than a year ahead; Preferred-Languages at most once; no field the RFC does not define.
    Comments (#) and blank lines are skipped.  Raises ComplianceError."""
    fields: dict[str, list[str]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, value = line.partition(":")
        if not sep or not re.fullmatch(r"[A-Za-z-]+", name) or not value.startswith(" ") or not value.strip():
            raise ComplianceError(f"security.txt line {n}: not a 'Field: value' line")
        key = name.lower()
        if key not in SECURITY_TXT_FIELDS:
            raise ComplianceError(f"security.txt line {n}: {name} is not an RFC 9116 field")
        fields.setdefault(key, []).append(value.strip())
    if not fields.get("contact"):
        raise ComplianceError("security.txt: Contact is required")
    for c in fields["contact"]:
        if not re.fullmatch(r"(https://|mailto:|tel:)\S+", c):
            raise ComplianceError("security.txt: a Contact is not an https:, mailto: or tel: URI")
    if len(fields.get("expires", [])) != 1:
        raise ComplianceError("security.txt: Expires must appear exactly once")
    try:
        when = dt.datetime.fromisoformat(fields["expires"][0].replace("Z", "+00:00"))
    except ValueError:
        raise ComplianceError("security.txt: Expires is not an RFC 3339 date-time") from None
    if when.tzinfo is None:
        raise ComplianceError("security.txt: Expires needs a time zone")
    if not now < when < now + dt.timedelta(days=365):
        raise ComplianceError("security.txt: Expires must be in the future and less than a year ahead")
    if len(fields.get("preferred-languages", [])) > 1:
        raise ComplianceError("security.txt: Preferred-Languages may appear once")
    return fields


MAX_SBOM_FILES = 2000


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def _image_files(root: Path, *, skip_sdk: bool) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".") and d not in ("__pycache__", "tests") and not (skip_sdk and d == "sbd")
        )
        for name in sorted(filenames):
            f = Path(dirpath) / name
            if name.startswith(".") or f.is_symlink() or not f.is_file():
                continue
            out.append(f)
            if len(out) > MAX_SBOM_FILES:
                raise ComplianceError(f"{root}: more than {MAX_SBOM_FILES} files; is this the app folder?")
    return out


def _image_contents(app: Path, sdk: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]], str]:
    """(SDK files, app files, where) as (path on the board, SHA-256) pairs.  From a device image
    (littlefs, whole-flash .bin or .uf2): the bytes on its filesystem, sbd's own state under
    /.sbd left out (per-device data, not software).  From a folder or file: the sources the
    image is built from (the SDK from SDK)."""
    from .audit import IMAGE_EXT, AuditError, image_files

    if app.is_file() and app.name.lower().endswith(IMAGE_EXT):
        try:
            board, files = image_files(app)
        except AuditError as e:
            raise ComplianceError(str(e)) from None
        sdk_files = [(p, hashlib.sha256(d).hexdigest()) for p, d in sorted(files.items()) if p.startswith("lib/sbd/")]
        # Installed releases (/.sbd/app: the A/B slots, their manifests and the pointer) are
        # software that boots; the rest of /.sbd is per-device data (factory record, state,
        # credentials, logs) and stays out.
        app_files = [
            (p, hashlib.sha256(d).hexdigest())
            for p, d in sorted(files.items())
            if not p.startswith("lib/sbd/") and (not p.startswith(".sbd/") or p.startswith(".sbd/app/"))
        ]
        if not sdk_files:
            raise ComplianceError(f"{app}: the image has no /lib/sbd: is the SDK on it?")
        return sdk_files, app_files, f"the {board} image {app.name}"
    srcs = sorted(p for p in sdk.rglob("*.py") if "__pycache__" not in p.parts)
    sdk_pairs = [("lib/sbd/" + f.relative_to(sdk).as_posix(), _sha256(f)) for f in srcs]
    root = app.parent if app.is_file() else app
    paths = [app] if app.is_file() else _image_files(app, skip_sdk=True)
    return sdk_pairs, [(f.relative_to(root).as_posix(), _sha256(f)) for f in paths], "the sources"


def sbom(product: Mapping[str, Any], app: Path, *, sdk: Path | None = None) -> str:
    """A CycloneDX 1.6 SBOM (JSON) of the device image: MicroPython (the version in the product
    file's ``firmware.micropython``), the sbd SDK with each module file and its SHA-256, and
    the app's files with theirs.  APP is a device image (the files as they are on its
    filesystem), or an app folder or file (the sources the image is built from, with the SDK
    from this installation).  Raises ComplianceError."""
    try:
        from cyclonedx.model import HashAlgorithm, HashType
        from cyclonedx.model.bom import Bom
        from cyclonedx.model.component import Component, ComponentType
        from cyclonedx.model.contact import OrganizationalEntity
        from cyclonedx.output.json import JsonV1Dot6
    except ImportError:
        raise ComplianceError("the SBOM needs cyclonedx-python-lib: pip install 'sbd[compliance]'") from None
    from .deploy import sdk_dir

    mp_version = _get(product, "firmware.micropython")
    if not mp_version:
        raise ComplianceError("missing the MicroPython version of the image (firmware.micropython)")
    sdk_files, app_files, where = _image_contents(app, sdk or sdk_dir())

    def files(pairs: list[tuple[str, str]]) -> list[Any]:
        return [
            Component(
                type=ComponentType.FILE,
                name=name,
                bom_ref=f"file:{name}",
                hashes=[HashType(alg=HashAlgorithm.SHA_256, content=digest)],
            )
            for name, digest in pairs
        ]

    micropython = Component(
        type=ComponentType.FIRMWARE,
        name="micropython",
        version=str(mp_version),
        bom_ref="micropython",
        description=f"MicroPython firmware for {_get(product, 'firmware.board') or 'the board'}",
    )
    sbd_lib = Component(
        type=ComponentType.LIBRARY,
        name="sbd",
        version=__version__,
        bom_ref="sbd",
        description=f"sbd secure-by-design SDK (device modules; hashes of {where})",
        components=files(sdk_files),
    )
    manufacturer = OrganizationalEntity(name=str(_get(product, "manufacturer.name") or "unknown"))
    device = Component(
        type=ComponentType.FIRMWARE,
        name=str(_get(product, "product.model") or "device"),
        version=str(_get(product, "product.version") or _get(product, "product.batch") or "0"),
        bom_ref="device-image",
        description=f"device image of {_get(product, 'product.name') or 'the product'} (hashes of {where})",
        manufacturer=manufacturer,
    )
    bom = Bom()
    bom.metadata.component = device
    bom.components.add(micropython)
    bom.components.add(sbd_lib)
    for c in files(app_files):
        bom.components.add(c)
    bom.register_dependency(device, [micropython, sbd_lib])
    return str(JsonV1Dot6(bom).output_as_string(indent=2))


def _pdf_text(text: str) -> str:
    return text.replace("`", "")


def pdf(docs: Documents) -> bytes:
    """The statement of compliance and the ETSI table as one PDF (fpdf2; DejaVu Sans when
    installed, else the built-in Helvetica, which refuses text outside Latin-1)."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    from .provision.labels import find_fonts

    fonts = find_fonts()
    doc = FPDF(format="A4")
    doc.set_auto_page_break(auto=True, margin=15)
    doc.set_creator(f"sbd {__version__}")
    doc.set_title("Statement of compliance")
    if fonts.sans and fonts.bold:
        doc.add_font("sans", "", fonts.sans)
        doc.add_font("sans", "B", fonts.bold)
        face = "sans"
    else:
        face = "helvetica"
        every = docs.statement + "".join("".join(r) for r in docs.rows)
        if any(ord(c) > 0xFF for c in every):
            raise ComplianceError("the documents have characters outside Latin-1: install DejaVu fonts for the PDF")

    def block(md: str) -> None:
        for line in md.splitlines():
            if line.startswith("# "):
                doc.set_font(face, "B", 15)
                doc.multi_cell(0, 9, _pdf_text(line[2:]), new_x="LMARGIN", new_y="NEXT")
                doc.ln(2)
            elif line.startswith("|") or not line.strip():
                if not line.strip():
                    doc.ln(2)
            else:
                doc.set_font(face, "", 10)
                doc.multi_cell(0, 5, _pdf_text(line), new_x="LMARGIN", new_y="NEXT")

    doc.add_page()
    block(docs.statement)
    doc.add_page(orientation="landscape")
    block(docs.etsi_table.split("\n| provision")[0])
    doc.set_font(face, "", 7)
    with doc.table(
        col_widths=(16, 8, 53, 75, 115),
        headings_style=FontFace(emphasis="BOLD"),
        line_height=3.5,
        text_align="LEFT",
    ) as table:
        table.row(["provision", "M/R", "topic", "covered by", "evidence or justification"])
        for r in docs.rows:
            table.row([_pdf_text(c) for c in r])
    return bytes(doc.output())


def write(docs: Documents, out: Path, *, sbom_json: str | None = None, with_pdf: bool = False) -> list[Path]:
    pdf_bytes = pdf(docs) if with_pdf else None  # built before anything is written
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    texts: list[tuple[str, str | bytes]] = [
        ("statement-of-compliance.md", docs.statement),
        ("etsi-en-303-645.md", docs.etsi_table),
        ("SECURITY.md", docs.security_md),
        ("security.txt", docs.security_txt),
    ]
    if sbom_json is not None:
        texts.append(("sbom.cdx.json", sbom_json))
    if pdf_bytes is not None:
        texts.append(("statement-of-compliance.pdf", pdf_bytes))
    for name, data in texts:
        if isinstance(data, bytes):
            (out / name).write_bytes(data)
        else:
            (out / name).write_text(data)
        paths.append(out / name)
    return paths
