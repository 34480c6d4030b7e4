"""examples/factory_station/batch.py provisions a batch of two virtual boards."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from harness.vboards import SdkBoard

BATCH = Path(__file__).resolve().parents[2] / "examples" / "factory_station" / "batch.py"


def _batch() -> ModuleType:
    spec = importlib.util.spec_from_file_location("factory_batch", BATCH)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _password_works(board: SdkBoard, password: str) -> bool:
    out = board.exec(f"from sbd import auth\nprint('AUTH', auth.check({password!r}))").output
    return "AUTH True" in out


def test_a_batch_of_two_boards(make_sdk_board: Callable[..., SdkBoard], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    boards = [make_sdk_board(name="f1"), make_sdk_board(name="f2")]
    db, report = tmp_path / "f.db", tmp_path / "batch.json"
    args = ["--db", str(db), "--labels", str(tmp_path / "labels"), "--model", "Env 1"]
    args += ["--support-end", "2031-12-31", "--disclosure", "security@example.com", "--report", str(report)]
    args += ["--vboard", "f1", "--vboard", "f2", "--jobs", "2"]
    assert _batch().main(args) == 0
    out = capsys.readouterr().out
    assert "2 of 2 boards provisioned" in out
    rows = json.loads(report.read_text())
    assert [r["target"] for r in rows] == ["f1", "f2"] and all(r["ok"] for r in rows)
    assert len({r["serial"] for r in rows}) == 2 and all("password" not in r for r in rows)
    with sqlite3.connect(db) as c:
        assert c.execute("select count(*) from boards").fetchone()[0] == 2
    # Each board took its own password: the one on its label (read back by a real QR decoder).
    import zxingcpp
    from PIL import Image

    from sbdtools.provision import labels

    passwords = set()
    for b, r in zip(boards, rows, strict=True):
        (code,) = zxingcpp.read_barcodes(Image.open(tmp_path / "labels" / f"{r['serial']}.png"))
        password = labels.parse_sbd1(code.text)["P"]
        passwords.add(password)
        assert _password_works(b, password) and not _password_works(b, "wrong-password")
    assert len(passwords) == 2
    # Run again: both boards are provisioned already, so the batch fails for each, and says so.
    assert _batch().main(args) == 1
    assert "0 of 2 boards provisioned" in capsys.readouterr().out


def test_a_bad_batch_is_refused_before_touching_a_board(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["--db", str(tmp_path / "f.db"), "--labels", str(tmp_path / "l"), "--model", "Env 1"]
    args += ["--support-end", "31/12/2031", "--disclosure", "security@example.com", "--vboard", "nope"]
    assert _batch().main(args) == 2
    assert "--support-end" in capsys.readouterr().err
