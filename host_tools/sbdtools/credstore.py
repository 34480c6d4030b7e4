"""The host side of sbd.creds: put a credential on a board, list the names,
remove one (the library behind `sbd creds`; docs/creds.md).

A value travels only inside the script sent to the board: `station.Link.run`
writes the script to a temporary file of mode 0600, runs it with `mpremote
run` (which sends it over the serial line) and removes the file.  It is never
on a command line, in an environment variable, in a log or echoed; the board
answers with a JSON line that never holds it (sbd.creds puts no value in an
exception message).
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from .errors import SbdError

NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}\Z")  # sbd.creds' own rule (MAX_NAME = 32)
MAX_VALUE = 1024  # sbd.creds.MAX_VALUE
_MARK = "@@SBD-RESULT"


class CredsError(SbdError):
    """The board refused or could not do what was asked."""


class Runner(Protocol):
    name: str

    def run(self, script: str, *, timeout: float = ...) -> dict[str, Any]: ...


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise CredsError(f"a credential name is 1 to 32 of A-Z a-z 0-9 _ . - (got {name!r})")


def check_value(value: bytes) -> None:
    if not value:
        raise CredsError("the value is empty: nothing stored")
    if len(value) > MAX_VALUE:
        raise CredsError(f"a credential value is at most {MAX_VALUE} bytes (got {len(value)})")


def _script(body: str) -> str:
    # The board's answer: {"ok": ...} or {"error": type, "msg": message}.
    return (
        "import json\n"
        "try:\n"
        "    from sbd import creds\n" + "".join(f"    {ln}\n" for ln in body.splitlines()) + "except Exception as e:\n"
        "    r = {'error': type(e).__name__, 'msg': str(e)}\n"
        f"print({_MARK!r}, json.dumps(r))\n"
    )


def _answer(link: Runner, doc: dict[str, Any]) -> dict[str, Any]:
    if "error" in doc:
        err, msg = str(doc.get("error")), str(doc.get("msg", ""))[:300]
        hint = {
            "ImportError": " (put the SDK on the board first: `sbd deploy`)",
            "NotProvisioned": " (provision the board first: `sbd provision`)",
            "Tampered": " (the store on the board is damaged or not its own; `sbd creds wipe` clears it)",
        }.get(err, "")
        raise CredsError(f"{link.name}: {err}: {msg}{hint}")
    return doc


def set_value(link: Runner, name: str, value: bytes) -> None:
    """Store `value` under `name` on the board."""
    check_name(name)
    check_value(value)
    body = f"import binascii\ncreds.set({name!r}, binascii.unhexlify({value.hex()!r}))\nr = {{'ok': True}}"
    _answer(link, link.run(_script(body)))


def list_names(link: Runner) -> list[str]:
    """The names stored on the board (never a value)."""
    doc = _answer(link, link.run(_script("r = {'names': creds.names()}")))
    names = doc.get("names")
    # Checked before anything is printed: a board's answer is input.
    if not isinstance(names, list) or not all(isinstance(n, str) and NAME_RE.match(n) for n in names):
        raise CredsError(f"{link.name}: the board's answer is not a list of names")
    return names


def remove(link: Runner, name: str) -> None:
    check_name(name)
    _answer(link, link.run(_script(f"creds.delete({name!r})\nr = {{'ok': True}}")))


def wipe(link: Runner) -> None:
    _answer(link, link.run(_script("creds.wipe()\nr = {'ok': True}")))
