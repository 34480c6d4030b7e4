"""The checks: on Python sources (ast), on plain text and on strings pulled
out of compiled or binary files (.mpy, raw image bytes).

Each check returns ``Hit``s (rule, line, message); the scanner turns them into
findings, applies inline suppressions and adds the file's path.  Messages
name the variable or call, never the secret's value.
"""

from __future__ import annotations

import ast
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Hit:
    rule: str
    line: int
    message: str


# Universal default passwords: the ones shipped in docs, tutorials and stock
# configs.  "micropythoN" is the password older WebREPL docs and images used.
WEBREPL_STOCK = "micropythoN"
DEFAULT_PASSWORDS = frozenset(
    {
        "1234",
        "12345",
        "123456",
        "1234567",
        "12345678",
        "123456789",
        "1234567890",
        "0000",
        "00000000",
        "password",
        "password1",
        "passw0rd",
        "admin",
        "admin123",
        "administrator",
        "root",
        "toor",
        "default",
        "changeme",
        "guest",
        "letmein",
        "qwerty",
        "micropython",
        "esp32",
        "esp8266",
        "raspberry",
        "pico",
        "secret",
        "test",
        "pass",
    }
)

_SECRET_WORDS = frozenset({"password", "passwd", "pass", "pwd", "pw", "passphrase", "secret", "token", "psk", "apikey"})
_KEY_QUALIFIERS = frozenset(
    {
        "api",
        "private",
        "priv",
        "secret",
        "access",
        "auth",
        "aes",
        "hmac",
        "wifi",
        "wpa",
        "device",
        "signing",
        "enc",
        "mqtt",
    }
)
# A name with one of these parts holds something about a secret, not the secret.
_NOT_SECRET_PARTS = frozenset(
    {
        "file",
        "path",
        "dir",
        "name",
        "len",
        "length",
        "size",
        "prompt",
        "label",
        "field",
        "attr",
        "env",
        "url",
        "uri",
        "id",
        "type",
        "hint",
        "policy",
        "min",
        "max",
        "attempts",
        "tries",
        "hash",
        "required",
        "set",
        "ok",
        "valid",
        "error",
        "msg",
        "message",
        "topic",
        "purpose",
        "mode",
        "bytes",
        "bits",
        "expiry",
        "expires",
        "count",
        "kind",
        "format",
        "fmt",
    }
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"), "a PEM private key"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"), "a GitHub token"),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"\bsk_live_[A-Za-z0-9]{20,}"), "a Stripe live key"),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"), "a Google API key"),
    (re.compile(r"\bSharedAccessKey=[A-Za-z0-9+/=]{20,}"), "an Azure IoT shared access key"),
)
_B64ISH = re.compile(r"^[A-Za-z0-9+/=_\-]+$")
_HEX = re.compile(r"^(?:0x)?[0-9a-fA-F]+$")


def name_parts(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [p for p in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if p]


def secret_name(name: str, *, bare_key: bool = False) -> bool:
    """Does this identifier name a secret value (WIFI_PASSWORD, api_key, mqttToken)?"""
    parts = name_parts(name)
    if not parts or any(p in _NOT_SECRET_PARTS for p in parts):
        return False
    if any(p in _SECRET_WORDS for p in parts):
        return True
    for a, b in itertools.pairwise(parts):
        if b == "key" and a in _KEY_QUALIFIERS:
            return True
    return bare_key and parts[-1] == "key"


def entropy(s: str) -> float:
    """Shannon entropy in bits per character."""
    if not s:
        return 0.0
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def random_looking(s: str) -> bool:
    """A key-like token: long, no spaces, high entropy for its alphabet."""
    if len(s) < 16 or " " in s:
        return False
    if _HEX.match(s):
        return len(s) >= 32 and entropy(s) >= 3.0
    return bool(_B64ISH.match(s)) and len(s) >= 20 and entropy(s) >= 4.0


def placeholder(s: str) -> bool:
    t = s.strip()
    if not t or len(set(t)) == 1:
        return True
    if t.startswith("<") and t.endswith(">"):
        return True
    if "{" in t or "%" in t or "$" in t:
        return True
    if ("/" in t and not random_looking(t)) or re.search(r"\.(pem|der|key|crt|bin|json|txt|cfg|py|mpy)$", t):
        return True  # a file name or path
    if re.fullmatch(r"[a-z]+(\.[a-z]+)+", t):
        return True  # a dotted name: an event, a module
    return bool(re.fullmatch(r"[A-Z_]*(YOUR|CHANGE|REPLACE|EXAMPLE|PLACEHOLDER|FIXME|TODO)[A-Z_]*", t))


def is_default(value: str) -> bool:
    return value == WEBREPL_STOCK or value.lower() in DEFAULT_PASSWORDS


def credential(value: str, what: str, line: int, *, key_only: bool = False) -> Hit | None:
    """A literal stored under a secret's name: default password, hard-coded secret or nothing."""
    if placeholder(value):
        return None
    if is_default(value):
        return Hit("SBD002", line, f"{what} is a universal default password")
    if key_only:
        return Hit("SBD001", line, f"{what} holds a key-like literal") if random_looking(value) else None
    if " " in value.strip() and not random_looking(value):
        return None  # a message about a password, not a password
    if len(value) < 4:
        return None
    return Hit("SBD001", line, f"{what} is a hard-coded credential")


def _str_value(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str):
            return node.value
        if isinstance(node.value, bytes):
            return node.value.decode("latin-1")
    return None


def _target_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):
        return _str_value(node.slice)
    return None


def _call_name(node: ast.Call) -> str:
    """ "a.b.c" for a call of a.b.c(...), the bare name for f(...)."""
    parts: list[str] = []
    f: ast.AST = node.func
    while isinstance(f, ast.Attribute):
        parts.append(f.attr)
        f = f.value
    if isinstance(f, ast.Name):
        parts.append(f.id)
    elif isinstance(f, ast.Call):
        parts.append(_call_name(f) + "()")
    return ".".join(reversed(parts))


def _is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def text_patterns(text: str, line: int = 0) -> Iterator[Hit]:
    for pat, what in _PATTERNS:
        if pat.search(text):
            yield Hit("SBD001", line, f"{what} is embedded here")


_LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "critical", "exception", "log"})
_LOG_OBJECTS = frozenset({"log", "logger", "logging", "_log", "_logger", "syslog", "LOG", "LOGGER"})
_OPAQUE_CALLS = frozenset({"len", "bool", "type", "isinstance", "id", "hash", "callable"})
_VERIFY_WORDS = ("verify", "signature", "ed25519", "check_sig", "sig_ok", "checksig")
_FETCH_MODULES = frozenset(
    {"urequests", "requests", "mrequests", "usocket", "socket", "umqtt", "mqtt_as", "http", "urllib", "sbd.net"}
)
_NET_START = frozenset({"connect", "bind", "listen", "serve", "start_server"})


@dataclass
class Facts:
    """What a file tells the project-level rules."""

    network: int = 0  # first line that starts network services, 0 for none
    identity_checked: bool = False


@dataclass
class _PyScan:
    hits: list[Hit] = field(default_factory=list)
    facts: Facts = field(default_factory=Facts)
    imports: set[str] = field(default_factory=set)
    aliases: dict[str, str] = field(default_factory=dict)
    verify: bool = False
    installs: list[tuple[int, str]] = field(default_factory=list)


def _secret_refs(node: ast.AST) -> Iterator[str]:
    """Secret-named variables whose value flows into ``node``'s text."""
    if isinstance(node, ast.Call):
        if _call_name(node).split(".")[-1] in _OPAQUE_CALLS:
            return
        for a in [*node.args, *(k.value for k in node.keywords)]:
            yield from _secret_refs(a)
        if isinstance(node.func, ast.Attribute):  # password.encode(), key.hex()
            yield from _secret_refs(node.func.value)
        return
    if isinstance(node, (ast.Compare, ast.BoolOp, ast.UnaryOp, ast.Lambda)):
        return
    if isinstance(node, ast.Name):
        if secret_name(node.id):
            yield node.id
        return
    if isinstance(node, ast.Attribute):
        if secret_name(node.attr):
            yield node.attr
        return
    if isinstance(node, ast.Subscript):
        key = _str_value(node.slice)
        if key is not None and secret_name(key):
            yield key
        return
    for child in ast.iter_child_nodes(node):
        yield from _secret_refs(child)


def _resolve(scan: _PyScan, dotted: str) -> str:
    head, _, rest = dotted.partition(".")
    full = scan.aliases.get(head, head)
    return f"{full}.{rest}" if rest else full


def _check_call(scan: _PyScan, node: ast.Call) -> None:
    line = node.lineno
    name = _resolve(scan, _call_name(node))
    last = name.split(".")[-1]
    hits = scan.hits
    # Credentials passed as literals: wlan.connect("ssid", "pw"), MQTTClient(password="...").
    for kw in node.keywords:
        v = _str_value(kw.value)
        if kw.arg and v is not None and (secret_name(kw.arg) or (kw.arg == "key" and last in ("config", "connect"))):
            h = credential(v, f"{last}({kw.arg}=...)", line)
            if h:
                hits.append(h)
    if last == "connect" and len(node.args) >= 2:
        v = _str_value(node.args[1])
        if v is not None and isinstance(node.args[0], (ast.Constant, ast.Name, ast.Attribute)):
            h = credential(v, "the password passed to connect()", line)
            if h:
                hits.append(h)
    # REPL.
    if name in ("webrepl.start", "webrepl.start_foreground") or (last == "start" and "webrepl" in name):
        hits.append(Hit("SBD003", line, "WebREPL is started"))
    if last == "dupterm" and node.args and not (isinstance(node.args[0], ast.Constant) and node.args[0].value is None):
        hits.append(Hit("SBD003", line, "the REPL is mirrored onto another stream (os.dupterm)"))
    # TLS.
    for kw in node.keywords:
        if kw.arg == "cert_reqs" and _cert_none(kw.value):
            hits.append(Hit("SBD004", line, f"{last}() with cert_reqs=CERT_NONE"))
        if kw.arg == "verify" and isinstance(kw.value, ast.Constant) and kw.value.value is False:
            hits.append(Hit("SBD004", line, f"{last}(verify=False)"))
    if last == "wrap_socket" and not any(kw.arg == "cert_reqs" for kw in node.keywords):
        base = name.rsplit(".", 1)[0] if "." in name else ""
        if base in ("ssl", "ussl", "tls") or name == "wrap_socket":
            hits.append(
                Hit("SBD004", line, "ssl.wrap_socket() without cert_reqs verifies no certificate on MicroPython")
            )
    # eval/exec.
    if name in ("eval", "exec", "execfile", "compile", "builtins.eval", "builtins.exec") and node.args:
        if not _is_literal(node.args[0]):
            hits.append(Hit("SBD005", line, f"{name}() on a value that is not a literal"))
    # Secrets in prints and logs.
    is_log = last == "print" and name == "print"
    if last in _LOG_METHODS and "." in name and name.split(".")[-2] in _LOG_OBJECTS:
        is_log = True
    if last == "write" and name.rsplit(".", 1)[0] in ("sys.stdout", "sys.stderr"):
        is_log = True
    if is_log:
        for a in [*node.args, *(k.value for k in node.keywords if k.arg not in ("sep", "end", "file"))]:
            refs = list(_secret_refs(a))
            if refs:
                hits.append(Hit("SBD006", line, f"{name}() writes {refs[0]}"))
                break
    # Updates.
    if any(w in name.lower() for w in _VERIFY_WORDS):
        scan.verify = True
    if name in ("mip.install", "upip.install"):
        hits.append(Hit("SBD007", line, f"{name}() installs code from the network without a signature check"))
    if last in ("get_next_update", "set_boot", "writeblocks") and (
        "Partition" in name or "partition" in name.lower() or last != "writeblocks"
    ):
        scan.installs.append((line, f"{last}()"))
    if name == "open" and len(node.args) >= 2:
        mode = _str_value(node.args[1]) or ""
        target = node.args[0]
        consts = [n.value for n in ast.walk(target) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        if "w" in mode and any(c.endswith((".py", ".mpy")) for c in consts):
            scan.installs.append((line, "writes a code file"))
    if last == "rename" and any(
        isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.endswith((".py", ".mpy"))
        for a in node.args[1:]
    ):
        scan.installs.append((line, "renames a file into a code file"))
    # Network and identity facts.
    if (
        last in _NET_START
        and not scan.facts.network
        and ("network" in scan.imports or any(m.split(".")[0] in ("usocket", "socket", "umqtt") for m in scan.imports))
    ):
        scan.facts.network = line
    if last == "MQTTClient" and not scan.facts.network:
        scan.facts.network = line
    if name.endswith("identity.load") or name.startswith("sbd.boot"):
        scan.facts.identity_checked = True


def _cert_none(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute) and node.attr == "CERT_NONE":
        return True
    if isinstance(node, ast.Name) and node.id == "CERT_NONE":
        return True
    return isinstance(node, ast.Constant) and node.value == 0 and not isinstance(node.value, bool)


def scan_python(tree: ast.Module, *, manifest: bool = False) -> tuple[list[Hit], Facts]:
    scan = _PyScan()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                scan.imports.add(a.name)
                scan.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            scan.imports.add(node.module)
            for a in node.names:
                scan.aliases[a.asname or a.name] = f"{node.module}.{a.name}"
                scan.imports.add(f"{node.module}.{a.name}")
    if any(m == "webrepl" or m.startswith("webrepl.") for m in scan.imports) and not manifest:
        pass  # importing alone is not enabling; webrepl.start() is
    if any(m.startswith(("sbd.identity", "sbd.boot", "sbd.ota")) for m in scan.imports):
        scan.facts.identity_checked = any(m.startswith(("sbd.identity", "sbd.boot")) for m in scan.imports)
        if any(m.startswith("sbd.ota") for m in scan.imports):
            scan.verify = True
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            _check_call(scan, node)
            if manifest:
                _check_manifest_call(scan, node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            _check_assign(scan, node)
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                ks, vs = _str_value(k) if k is not None else None, _str_value(v)
                if ks is not None and vs is not None and secret_name(ks, bare_key=True):
                    h = credential(vs, f"the {ks!r} entry", node.lineno, key_only=not secret_name(ks))
                    if h:
                        scan.hits.append(h)
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
            scan.hits.extend(text_patterns(text, node.lineno))
        elif isinstance(node, ast.Attribute) and node.attr == "CERT_NONE" and isinstance(node.ctx, ast.Load):
            scan.hits.append(Hit("SBD004", node.lineno, "ssl.CERT_NONE turns certificate verification off"))
    fetches = any(m.split(".")[0] in _FETCH_MODULES or m.startswith("sbd.net") for m in scan.imports)
    if scan.installs and fetches and not scan.verify:
        line, what = scan.installs[0]
        scan.hits.append(Hit("SBD007", line, f"update code {what} with no signature check in this file"))
    if "network" in scan.imports and not scan.facts.network:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _call_name(node).split(".")[-1] == "active" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and arg.value in (True, 1):
                    scan.facts.network = node.lineno
                    break
    # CERT_NONE inside cert_reqs= is reported once, by the call check.
    seen: set[tuple[str, int]] = set()
    out: list[Hit] = []
    for h in sorted(scan.hits, key=lambda h: (h.line, h.rule)):
        if (h.rule, h.line) in seen:
            continue
        seen.add((h.rule, h.line))
        out.append(h)
    return out, scan.facts


def _check_assign(scan: _PyScan, node: ast.Assign | ast.AnnAssign | ast.AugAssign) -> None:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    value = node.value
    if value is None:
        return
    for t in targets:
        name = _target_name(t)
        if name is None:
            continue
        # TLS switched off on a context.
        if name == "verify_mode" and _cert_none(value):
            scan.hits.append(Hit("SBD004", node.lineno, "verify_mode = CERT_NONE"))
        if name == "check_hostname" and isinstance(value, ast.Constant) and value.value is False:
            scan.hits.append(Hit("SBD004", node.lineno, "check_hostname = False"))
        if not secret_name(name, bare_key=True):
            continue
        # One literal (a list of words under a secret's name is a word list, not a credential).
        s = _str_value(value)
        if s is not None:
            h = credential(s, name, node.lineno, key_only=not secret_name(name))
            if h:
                scan.hits.append(h)


def _check_manifest_call(scan: _PyScan, node: ast.Call) -> None:
    name = _call_name(node)
    if name not in ("require", "include", "module", "package", "freeze"):
        return
    for a in node.args:
        v = _str_value(a)
        if v and "webrepl" in v.lower():
            scan.hits.append(Hit("SBD003", node.lineno, f"the frozen manifest {name}()s WebREPL into the firmware"))
            return


# Text fallback (sources ast cannot parse) and strings from binaries.
_ASSIGN_RE = re.compile(r"""^\s*['"]?([A-Za-z_][A-Za-z0-9_.]*)['"]?\s*[:=]\s*[bf]?(['"])(.*?)\2""")
_TEXT_RULES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"\bwebrepl\.start\("), "SBD003", "WebREPL is started"),
    (re.compile(r"\bCERT_NONE\b"), "SBD004", "ssl.CERT_NONE turns certificate verification off"),
    (re.compile(r"\b(?:eval|exec)\(\s*[^'\")\s]"), "SBD005", "eval/exec on a value that is not a literal"),
    (re.compile(r"\b(?:mip|upip)\.install\("), "SBD007", "installs code from the network without a signature check"),
)


def scan_text(text: str) -> tuple[list[Hit], Facts]:
    hits: list[Hit] = []
    facts = Facts()
    for i, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0] if "'" not in line and '"' not in line else line
        m = _ASSIGN_RE.match(code)
        if m and secret_name(m.group(1).split(".")[-1], bare_key=True):
            h = credential(m.group(3), m.group(1), i, key_only=not secret_name(m.group(1).split(".")[-1]))
            if h:
                hits.append(h)
        for pat, rule, msg in _TEXT_RULES:
            if pat.search(code):
                hits.append(Hit(rule, i, msg))
        hits.extend(text_patterns(line, i))
        if "identity.load" in code or "sbd.boot" in code:
            facts.identity_checked = True
        if not facts.network and re.search(r"\.connect\(|MQTTClient\(", code):
            facts.network = i
    return hits, facts


def scan_strings(strings: list[str], *, compiled_code: bool) -> tuple[list[Hit], Facts]:
    """Strings from a .mpy (``compiled_code``) or raw image bytes.

    Names are gone, so only what a string shows by itself counts: embedded keys
    and tokens, WebREPL's stock password, and (in compiled code, whose strings
    are the module's own identifiers and constants) WebREPL and CERT_NONE.
    """
    hits: list[Hit] = []
    facts = Facts()
    seen = set(strings)
    for s in strings:
        hits.extend(text_patterns(s))
        if s == WEBREPL_STOCK:
            hits.append(Hit("SBD002", 0, "WebREPL's stock password is embedded here"))
    if compiled_code:
        if "webrepl" in seen:  # "start" is a built-in qstr, absent from the .mpy
            hits.append(Hit("SBD003", 0, "the compiled module uses WebREPL"))
        if "CERT_NONE" in seen:
            hits.append(Hit("SBD004", 0, "the compiled module uses ssl.CERT_NONE"))
        if "install" in seen and ("mip" in seen or "upip" in seen):
            hits.append(Hit("SBD007", 0, "the compiled module calls mip.install()"))
        facts.identity_checked = "identity" in seen and "load" in seen
        if ("WLAN" in seen and "connect" in seen) or "MQTTClient" in seen:
            facts.network = 1
    unique: dict[tuple[str, str], Hit] = {}
    for h in hits:
        unique.setdefault((h.rule, h.message), h)
    return list(unique.values()), facts
