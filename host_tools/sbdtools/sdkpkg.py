"""The SDK's MicroPython packaging files, by capability, from one table.

micropython-lib style: a board installs (or freezes) only the capabilities it
imports.  `CAPABILITIES` below is the one table; everything else is generated
from it (regenerate with ``python -m sbdtools.sdkpkg``):

* ``sdk/sbd-<name>.json``: one mip package per capability.  mip resolves a
  dependency only by index name or absolute URL, never relative to the package
  that names it, so each file lists its own modules *and* those of every
  capability it requires: ``mpremote mip install sdk/sbd-aead.json`` (or
  ``github:<owner>/<repo>/sdk/sbd-aead.json``) installs exactly what
  ``sbd.crypto.aead`` needs.
* ``sdk/package.json``: the whole SDK (``sbd``), as before.
* ``sdk/manifests/sbd-<name>/manifest.py``: freezing pieces that ``require()``
  each other, found through ``add_library("sbd", "path/to/sdk")``; and
  ``sdk/manifest.py``, which freezes everything.

Files go as ``.py`` sources: crypto's viper modules must be compiled for the
board's architecture (docs/crypto.md), which mip installs leave to the board
and freezing leaves to the port's own mpy-cross.

tests/host/test_sdk_packaging.py fails when a module under sdk/sbd is in no
capability, when a capability imports a module it does not require, and when
the committed files differ from what this module generates.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .deploy import sdk_dir

PREFIX = "sbd-"
LIBRARY = "sbd"  # the name manifests register the SDK under: add_library("sbd", ...)


@dataclass(frozen=True)
class Capability:
    """One installable piece: a public module and the private modules it uses.

    `files` are relative to sdk/sbd; `requires` names other capabilities."""

    name: str
    description: str
    files: tuple[str, ...]
    requires: tuple[str, ...] = ()

    @property
    def package(self) -> str:
        return PREFIX + self.name


# One row per public module (its private `_x.py` helpers go with it).  A new
# module under sdk/sbd gets a row here, then `python -m sbdtools.sdkpkg`.
CAPABILITIES: tuple[Capability, ...] = (
    Capability("core", "the sbd package (version) and its atomic-file helper", ("__init__.py", "_fs.py")),
    Capability("events", "the hook point for security and system events", ("events.py",), ("core",)),
    Capability("board", "unique id, reset cause, watchdog on every port", ("board.py",), ("core",)),
    Capability(
        "crypto",
        "crypto errors, constant-time compare, random bytes",
        ("crypto/__init__.py", "crypto/_ct.py"),
        ("core",),
    ),
    Capability("sha256", "SHA-256 of buffers, streams and files", ("crypto/sha256.py",), ("crypto",)),
    Capability("hmac", "HMAC-SHA256", ("crypto/hmac.py",), ("crypto",)),
    Capability("kdf", "PBKDF2 (HMAC-SHA256), and HKDF re-exported", ("crypto/kdf.py",), ("hmac", "hkdf")),
    Capability(
        "aead", "authenticated encryption records (AES-256-CBC + HMAC-SHA256)", ("crypto/aead.py",), ("hmac", "hkdf")
    ),
    Capability(
        "sha512",
        "SHA-512 (hashlib, native, viper or portable backend)",
        ("crypto/sha512.py", "crypto/_sha512_portable.py"),
        ("crypto",),
    ),
    Capability(
        "ed25519", "Ed25519 signature verification", ("crypto/ed25519.py", "crypto/_ed25519_kat.py"), ("sha512",)
    ),
    Capability(
        "validate",
        "schema validation of JSON and scalars",
        ("validate/__init__.py", "validate/_more.py", "validate/_scan.py", "validate/_utf8.py"),
        ("core",),
    ),
    Capability("validate-form", "form / query-string validation", ("validate/form.py",), ("validate",)),
    Capability("validate-layout", "binary record layouts", ("validate/layout.py",), ("validate",)),
    Capability(
        "identity",
        "the factory record, bound to the board",
        ("identity/__init__.py", "identity/_record.py"),
        ("board", "validate", "hkdf"),
    ),
    Capability(
        "identity-provision", "making a factory record (factory only)", ("identity/provision.py",), ("identity",)
    ),
    Capability("auth", "per-device password check with back-off", ("auth.py",), ("identity", "events", "kdf")),
    Capability(
        "creds", "encrypted credential store, atomic and tamper-evident", ("creds.py",), ("identity", "aead", "events")
    ),
    Capability("privacy", "the user data wipe, confirmed and power-cut safe", ("privacy.py",), ("creds", "auth")),
    Capability(
        "lockdown", "the production lock-down profile (no REPL fallback)", ("lockdown.py",), ("board", "events")
    ),
    Capability(
        "ota",
        "signed updates: the TUF client, verified in place",
        (
            "ota/__init__.py",
            "ota/client.py",
            "ota/release.py",
            "ota/slots.py",
            "ota/http.py",
            "ota/download.py",
            "ota/firmware.py",
        ),
        ("validate", "ed25519", "sha256", "events", "boot", "trustedtime"),
    ),
    Capability(
        "boot",
        "the boot stage: A/B app slots, trial boot, rollback, boot cache",
        ("boot.py", "bootcache.py"),
        ("core", "events", "privacy", "hmac"),
    ),
    Capability(
        "telemetry", "events, metrics and anomaly rules in a bounded ring", ("telemetry.py",), ("events", "board")
    ),
    Capability(
        "net", "TLS that verifies by default, reconnect back-off with jitter", ("net/__init__.py",), ("events",)
    ),
    Capability("net-mqtt", "the smallest MQTT client and the telemetry sink", ("net/mqtt.py",), ("net", "creds")),
    Capability("net-http", "a telemetry sink POSTing events over HTTP(S)", ("net/http.py",), ("net", "trustedtime")),
    Capability(
        "flashlog", "a bounded, power-cut safe log on flash (telemetry's flash sink)", ("flashlog.py",), ("core",)
    ),
    Capability(
        "trustedtime", "the newest trusted time seen, kept on flash, never going back", ("trustedtime.py",), ("core",)
    ),
    Capability(
        "net-broker",
        "the device's own MQTT secret, hashed for the broker (factory)",
        ("net/broker.py",),
        ("net", "creds", "sha512"),
    ),
    Capability("hkdf", "HKDF-SHA256, without PBKDF2's code", ("crypto/hkdf.py",), ("hmac",)),
)


class TableError(ValueError):
    pass


def by_name() -> dict[str, Capability]:
    return {c.name: c for c in CAPABILITIES}


def closure(names: Iterable[str]) -> list[Capability]:
    """The capabilities `names` need, themselves included, requirements first."""
    table = by_name()
    out: list[Capability] = []
    seen: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise TableError(f"capabilities require each other in a cycle: {' -> '.join((*path, name))}")
        if name not in table:
            raise TableError(f"unknown capability {name!r}" + (f" (required by {path[-1]!r})" if path else ""))
        if name in seen:
            return
        for r in table[name].requires:
            visit(r, (*path, name))
        seen.add(name)
        out.append(table[name])

    for n in names:
        visit(n, ())
    return out


def files_for(names: Iterable[str]) -> list[str]:
    """Paths relative to sdk/ (``sbd/...``) of what `names` install."""
    return sorted({f"sbd/{f}" for c in closure(names) for f in c.files})


def sdk_sources(root: Path | None = None) -> list[str]:
    root = root or sdk_dir()
    return sorted(str(p.relative_to(root).as_posix()) for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def check_table(root: Path | None = None) -> None:
    """Every SDK module is in exactly one capability, every listed file exists,
    and the requirements form a graph without cycles."""
    owner: dict[str, str] = {}
    for c in CAPABILITIES:
        for f in c.files:
            if f in owner:
                raise TableError(f"sbd/{f} is in two capabilities: {owner[f]} and {c.name}")
            owner[f] = c.name
    sources = set(sdk_sources(root))
    missing = sorted(sources - owner.keys())
    if missing:
        raise TableError(
            "in no capability (add them to CAPABILITIES in host_tools/sbdtools/sdkpkg.py): "
            + ", ".join(f"sbd/{m}" for m in missing)
        )
    gone = sorted(owner.keys() - sources)
    if gone:
        raise TableError("listed in CAPABILITIES but not under sdk/sbd: " + ", ".join(f"sbd/{m}" for m in gone))
    if len(by_name()) != len(CAPABILITIES):
        raise TableError("two capabilities have the same name")
    closure(c.name for c in CAPABILITIES)


def _json(files: list[str], description: str | None = None) -> str:
    # URLs are relative to the .json file, which mip resolves against its own location.
    doc: dict[str, object] = {"urls": [[f, f] for f in files], "version": __version__}
    if description is not None:
        doc["description"] = description
    return json.dumps(doc, indent=1) + "\n"


def package_json() -> str:
    """sdk/package.json: the whole SDK."""
    return _json(files_for(c.name for c in CAPABILITIES))


def capability_json(name: str) -> str:
    cap = by_name()[name]
    return _json(files_for([name]), f"{cap.description}; sbd-{name} and what it requires")


def capability_manifest(name: str) -> str:
    cap = by_name()[name]
    lines = [
        f"# {cap.package}: {cap.description}.",
        "# Generated by `python -m sbdtools.sdkpkg` from its CAPABILITIES table: do not edit.",
        f'metadata(version="{__version__}", description="{cap.description}", license="MIT")',
    ]
    lines += [f'require("{PREFIX}{r}", library="{LIBRARY}")' for r in cap.requires]
    dirs: dict[str, list[str]] = {}
    for f in cap.files:
        d, _, base = f"sbd/{f}".rpartition("/")
        dirs.setdefault(d, []).append(base)
    lines += [_package_line(d, sorted(fs)) for d, fs in sorted(dirs.items())]
    return "\n".join(lines) + "\n"


def _package_line(d: str, files: list[str]) -> str:
    """package(...) as `ruff format` leaves it: one line when it fits in 120
    characters, else one argument per line."""
    line = f'package("{d}", files={json.dumps(files)}, base_path="../..")'
    if len(line) <= 120:
        return line
    return f'package(\n    "{d}",\n    files={json.dumps(files)},\n    base_path="../..",\n)'


def top_manifest() -> str:
    lines = [
        "# Freeze the whole sbd SDK into a MicroPython firmware: add to your board manifest",
        '#     include("path/to/sbd/sdk/manifest.py")',
        "# or freeze only the capabilities your app imports (requirements come along):",
        '#     add_library("sbd", "path/to/sbd/sdk")',
        '#     require("sbd-validate", library="sbd")',
        "# Frozen modules run from flash, so their bytecode costs no heap.",
        "# Generated by `python -m sbdtools.sdkpkg` from its CAPABILITIES table: do not edit.",
        f'metadata(version="{__version__}", description="sbd: secure-by-design SDK for MicroPython boards", '
        'license="MIT")',
        f'add_library("{LIBRARY}", ".")',
    ]
    lines += [f'require("{c.package}", library="{LIBRARY}")' for c in CAPABILITIES]
    return "\n".join(lines) + "\n"


def generated() -> dict[str, str]:
    """Every generated file: path relative to sdk/ -> content."""
    check_table()
    out = {"package.json": package_json(), "manifest.py": top_manifest()}
    for c in CAPABILITIES:
        out[f"{c.package}.json"] = capability_json(c.name)
        out[f"manifests/{c.package}/manifest.py"] = capability_manifest(c.name)
    return out


def stale(sdk: Path | None = None) -> list[str]:
    """Generated files under sdk/ that are missing, differ, or are left over."""
    sdk = sdk or sdk_dir().parent
    want = generated()
    bad = [p for p, text in want.items() if not (sdk / p).is_file() or (sdk / p).read_text() != text]
    have = {str(p.relative_to(sdk).as_posix()) for p in sdk.glob(f"{PREFIX}*.json")}
    have |= {str(p.relative_to(sdk).as_posix()) for p in sdk.glob("manifests/*/manifest.py")}
    return sorted(bad + sorted(have - want.keys()))


def main() -> None:
    sdk = sdk_dir().parent
    want = generated()
    for rel in stale(sdk):
        path = sdk / rel
        if rel in want:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(want[rel])
            print(f"wrote {path}", file=sys.stderr)
        else:
            path.unlink()
            if path.name == "manifest.py" and not any(path.parent.iterdir()):
                path.parent.rmdir()
            print(f"removed {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
