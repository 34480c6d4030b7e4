"""`sbd audit`: a security audit of a MicroPython project.

Scans a folder (or one file) for what makes a device insecure in the field:
hard-coded credentials and keys, universal default passwords, an open REPL,
TLS without certificate checks, eval/exec on received data, secrets in logs,
updates installed without a signature check and apps that start networking
without checking the factory record (the rules: ``model.RULES``).

Inputs: Python sources (ast; plain-text rules when ast cannot parse them),
frozen manifests, JSON and other text config files, .mpy files (their strings),
littlefs images and per-device .bin/.uf2 images (the files in their filesystem
region, scanned like a folder).  Every input is bounded (file count, file size,
total bytes, image size); symlinks are never followed.  Images are mounted in a
child process, since a malformed littlefs image can abort the reader.

Inline suppressions: ``# sbd-audit: ignore SBD001 why this is safe`` on the
finding's line or the line above.  A suppression without a reason suppresses
nothing and is itself a finding (SBD000).
"""

from __future__ import annotations

import ast
import base64
import io
import json
import os
import re
import stat
import subprocess
import sys
import tokenize
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .. import boards
from ..errors import SbdError
from ..flash import uf2
from . import rules
from .model import RULES, SEVERITIES, Finding, Report, Rule, Suppressed, rank

__all__ = ["RULES", "SEVERITIES", "AuditError", "Finding", "Limits", "Report", "Rule", "audit", "rank"]


class AuditError(SbdError):
    """The audit could not scan what it was asked to (over a limit, unreadable)."""


@dataclass(frozen=True)
class Limits:
    max_files: int = 20_000
    max_file_bytes: int = 4 << 20  # a source, .mpy or config file
    max_image_bytes: int = 64 << 20  # a .bin, .uf2 or littlefs image
    max_total_bytes: int = 1 << 30
    max_depth: int = 32
    max_strings: int = 200_000  # printable strings taken from one binary


SOURCE_EXT = (".py",)
TEXT_EXT = (".json", ".cfg", ".ini", ".conf", ".toml", ".yaml", ".yml", ".env", ".pem", ".key", ".txt")
IMAGE_EXT = (".bin", ".uf2", ".img", ".lfs", ".littlefs")
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "node_modules", ".tox", ".mypy_cache"})
_SUPPRESS_RE = re.compile(r"#\s*sbd-audit:\s*ignore\b(.*)$")
_RULE_RE = re.compile(r"^\s*((?:SBD\d{3}\s*,\s*)*SBD\d{3})\b\s*(.*)$")
_PRINTABLE_RE = re.compile(rb"[\x20-\x7e]{6,512}")
_MPY_STR_RE = re.compile(rb"[\x20-\x7e]{3,512}")


@dataclass
class _Unit:
    """One file to scan: where it came from and its bytes."""

    path: str
    data: bytes


class _Budget:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.files = 0
        self.bytes = 0

    def take(self, path: str, size: int, cap: int) -> None:
        if size > cap:
            raise AuditError(f"{path}: {size} bytes, over the {cap}-byte limit for one file (see --max-file-mb)")
        self.files += 1
        self.bytes += size
        if self.files > self.limits.max_files:
            raise AuditError(f"more than {self.limits.max_files} files to scan: audit a smaller folder")
        if self.bytes > self.limits.max_total_bytes:
            raise AuditError(f"more than {self.limits.max_total_bytes} bytes to scan: audit a smaller folder")


def audit(path: str | os.PathLike[str], *, limits: Limits | None = None) -> Report:
    """Scan a folder or one file and return the report."""
    limits = limits or Limits()
    root = Path(path)
    try:
        st = root.stat()
    except OSError as e:
        raise AuditError(f"{root}: {e.strerror or e}") from None
    report = Report(root=str(root))
    budget = _Budget(limits)
    units: list[_Unit] = []
    if stat.S_ISDIR(st.st_mode):
        units = list(_walk(root, budget, report))
    elif stat.S_ISREG(st.st_mode):
        units = [_read_unit(root, root.name, budget)]
    else:
        raise AuditError(f"{root}: not a folder or a regular file")
    _scan_project(units, report, budget)
    report.findings.sort(key=lambda f: (f.path, f.line, f.rule))
    return report


def image_files(path: Path, *, max_bytes: int = Limits().max_image_bytes) -> tuple[str, dict[str, bytes]]:
    """The board and the files of the littlefs filesystem in an image file (a filesystem
    image, a whole-flash .bin or a .uf2), read in a child process as the audit does.
    Raises AuditError when the file is too big or holds no readable filesystem."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
        with os.fdopen(fd, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise AuditError(f"{path}: cannot read ({e.strerror})") from None
    if len(data) > max_bytes:
        raise AuditError(f"{path}: over {max_bytes} bytes")
    for board, region in _filesystems(_Unit(path.name, data)):
        files = _read_fs(board, region)
        if files is not None:
            return board, files
    raise AuditError(f"{path}: no littlefs filesystem of a known board found")


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXT)


def _read_unit(p: Path, rel: str, budget: _Budget) -> _Unit:
    cap = budget.limits.max_image_bytes if _is_image(rel) else budget.limits.max_file_bytes
    # O_NOFOLLOW: a file swapped for a symlink between the walk and the read is refused.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(p, flags)
    except OSError as e:
        raise AuditError(f"{rel}: cannot read: {e.strerror or e}") from None
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        budget.take(rel, size, cap)
        data = f.read(cap + 1)
    if len(data) > cap:  # grew while we read it
        raise AuditError(f"{rel}: over the {cap}-byte limit for one file (see --max-file-mb)")
    return _Unit(rel, data)


def _wanted(name: str) -> bool:
    low = name.lower()
    return low.endswith((*SOURCE_EXT, ".mpy", *TEXT_EXT, *IMAGE_EXT))


def _walk(root: Path, budget: _Budget, report: Report) -> Iterable[_Unit]:
    stack: list[tuple[Path, str, int]] = [(root, "", 0)]
    while stack:
        folder, rel, depth = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as e:
            raise AuditError(f"{rel or '.'}: cannot list: {e.strerror or e}") from None
        for ent in entries:
            r = f"{rel}/{ent.name}" if rel else ent.name
            if ent.is_symlink():
                report.skipped.append((r, "a symlink (never followed)"))
                continue
            if ent.is_dir(follow_symlinks=False):
                if ent.name in SKIP_DIRS:
                    continue
                if depth + 1 > budget.limits.max_depth:
                    raise AuditError(f"{r}: nested deeper than {budget.limits.max_depth} folders")
                stack.append((Path(ent.path), r, depth + 1))
            elif ent.is_file(follow_symlinks=False) and _wanted(ent.name):
                yield _read_unit(Path(ent.path), r, budget)


def _comments(text: str, path: str) -> list[tuple[int, str]]:
    """(line, comment) of a Python source's comments; every line of other text."""
    if path.lower().endswith(".py"):
        try:
            return [
                (t.start[0], t.string)
                for t in tokenize.generate_tokens(io.StringIO(text).readline)
                if t.type == tokenize.COMMENT
            ]
        except (tokenize.TokenError, SyntaxError):
            pass
    return list(enumerate(text.splitlines(), 1))


def _suppressions(text: str, path: str, report: Report) -> dict[int, dict[str, str]]:
    """line -> {rule: reason} for the lines a suppression covers (its own and the next)."""
    out: dict[int, dict[str, str]] = {}
    for i, line in _comments(text, path):
        m = _SUPPRESS_RE.search(line)
        if not m:
            continue
        r = _RULE_RE.match(m.group(1))
        ids = [x.strip() for x in r.group(1).split(",")] if r else []
        reason = r.group(2).strip() if r else ""
        bad = [x for x in ids if x not in RULES or x == "SBD000"]
        if not ids or bad or len(reason) < 3:
            why = "names no rule" if not ids else f"names unknown rules {bad}" if bad else "gives no reason"
            report.findings.append(
                Finding("SBD000", "error", path, i, f"this suppression {why}; it suppresses nothing")
            )
            continue
        for ln in (i, i + 1):
            for x in ids:
                out.setdefault(ln, {})[x] = reason
    return out


def _emit(report: Report, path: str, hits: Iterable[rules.Hit], supp: dict[int, dict[str, str]]) -> None:
    for h in hits:
        rule = RULES[h.rule]
        f = Finding(h.rule, rule.severity, path, h.line, h.message)
        reason = supp.get(h.line, {}).get(h.rule) if h.line else None
        if reason:
            report.suppressed.append(Suppressed(f, reason))
        else:
            report.findings.append(f)


def _scan_project(units: list[_Unit], report: Report, budget: _Budget) -> None:
    facts: dict[str, rules.Facts] = {}
    supps: dict[str, dict[int, dict[str, str]]] = {}
    for u in units:
        facts[u.path] = _scan_unit(u, report, budget, supps)
    _check_apps(units, facts, report, supps)


def _scan_unit(u: _Unit, report: Report, budget: _Budget, supps: dict[str, dict[int, dict[str, str]]]) -> rules.Facts:
    low = u.path.lower()
    report.scanned.append(u.path)
    if low.endswith(".py"):
        text = u.data.decode("utf-8", errors="replace")
        supp = supps[u.path] = _suppressions(text, u.path, report)
        manifest = PurePosixPath(u.path).name.startswith("manifest") or "freeze(" in text
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SyntaxWarning)
                tree = ast.parse(text, filename=u.path)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            hits, f = rules.scan_text(text)
        else:
            hits, f = rules.scan_python(tree, manifest=manifest)
        _emit(report, u.path, hits, supp)
        return f
    if low.endswith(".mpy"):
        strings = _strings(u.data, _MPY_STR_RE, budget.limits.max_strings)
        hits, f = rules.scan_strings(strings, compiled_code=True)
        _emit(report, u.path, hits, {})
        return f
    if low.endswith(".json"):
        return _scan_json(u, report)
    if low.endswith(TEXT_EXT):
        text = u.data.decode("utf-8", errors="replace")
        hits, _ = rules.scan_text(text)
        _emit(report, u.path, hits, _suppressions(text, u.path, report))
        return rules.Facts()
    if _is_image(low):
        _scan_image(u, report, budget)
    return rules.Facts()


def _scan_json(u: _Unit, report: Report) -> rules.Facts:
    try:
        doc = json.loads(u.data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        hits, _ = rules.scan_text(u.data.decode("utf-8", errors="replace"))
        _emit(report, u.path, hits, {})
        return rules.Facts()
    found: list[rules.Hit] = []
    stack: list[object] = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(v, str) and rules.secret_name(str(k), bare_key=True):
                    h = rules.credential(v, f"the {k!r} entry", 0, key_only=not rules.secret_name(str(k)))
                    if h:
                        found.append(h)
                elif isinstance(v, str):
                    found.extend(rules.text_patterns(v))
                else:
                    stack.append(v)
        elif isinstance(node, list):
            stack.extend(node)
    _emit(report, u.path, found, {})
    return rules.Facts()


def _strings(data: bytes, pat: re.Pattern[bytes], cap: int) -> list[str]:
    out: list[str] = []
    for m in pat.finditer(data):
        out.append(m.group().decode("ascii"))
        if len(out) >= cap:
            break
    return out


def _filesystems(u: _Unit) -> list[tuple[str, bytes]]:
    """(board, littlefs region) candidates for an image file."""
    low = u.path.lower()
    cands: list[tuple[str, bytes]] = []
    for name in boards.names():
        b = boards.load(name)
        fs = b.filesystem
        if low.endswith(".uf2"):
            if b.uf2_family_id is None:
                continue
            try:
                blocks = uf2.parse(u.data, u.path)
            except SbdError:
                return []
            if not any(bl.family == b.uf2_family_id for bl in blocks):
                continue
            try:
                flash = uf2.image(blocks, b.flash_base_address, b.flash_size)
            except SbdError:
                continue
            cands.append((name, bytes(flash[fs.offset : fs.offset + fs.size])))
        elif len(u.data) == fs.size:
            cands.append((name, u.data))
        elif len(u.data) >= fs.offset + fs.size:
            cands.append((name, u.data[fs.offset : fs.offset + fs.size]))
    # A region that is all erased flash holds no filesystem.
    return [(n, r) for n, r in cands if r.strip(b"\xff")]


def _read_fs(board: str, region: bytes) -> dict[str, bytes] | None:
    try:
        p = subprocess.run(
            [sys.executable, "-m", "sbdtools.audit._imgread", board],
            input=region,
            capture_output=True,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    if p.returncode != 0:
        return None
    try:
        doc = json.loads(p.stdout)
        files = doc.get("files")
        if not isinstance(files, dict):
            return None
        return {str(k): base64.b64decode(v) for k, v in files.items()}
    except (ValueError, TypeError):
        return None


def _scan_image(u: _Unit, report: Report, budget: _Budget) -> None:
    seen: set[bytes] = set()
    found = False
    for board, region in _filesystems(u):
        if region in seen:
            continue
        seen.add(region)
        files = _read_fs(board, region)
        if files is None:
            continue
        found = True
        inner: list[_Unit] = []
        for p, data in sorted(files.items()):
            rel = f"{u.path}!/{p}"
            if not _wanted(p) or _is_image(p):
                continue
            budget.take(rel, len(data), budget.limits.max_file_bytes)
            inner.append(_Unit(rel, data))
        _scan_project(inner, report, budget)
        break
    if not found:
        report.skipped.append((u.path, "no littlefs filesystem found; scanned its raw strings only"))
    # Raw strings: keys and tokens can sit anywhere in flash (NVS, a data partition).
    hits, _ = rules.scan_strings(_strings(u.data, _PRINTABLE_RE, budget.limits.max_strings), compiled_code=False)
    _emit(report, u.path, hits, {})


def _check_apps(
    units: list[_Unit],
    facts: dict[str, rules.Facts],
    report: Report,
    supps: dict[str, dict[int, dict[str, str]]],
) -> None:
    """SBD008: an app (a folder with main.py) that starts networking and never loads the factory record."""
    roots = sorted({str(PurePosixPath(u.path).parent) for u in units if PurePosixPath(u.path).name == "main.py"})
    for root in roots:
        prefix = "" if root == "." else root + "/"
        mine = [u.path for u in units if u.path.startswith(prefix)]
        if any(facts[p].identity_checked for p in mine):
            continue
        net = [p for p in mine if facts[p].network and "sbd" not in PurePosixPath(p[len(prefix) :]).parts[:-1]]
        if net:
            p = net[0]
            _emit(
                report,
                p,
                [
                    rules.Hit(
                        "SBD008", facts[p].network, "network services start, but the app never loads the factory record"
                    )
                ],
                supps.get(p, {}),
            )
