"""The factory station (`sbd provision`, sbdtools.station) on virtual boards,
through the same mpremote code path as real boards: end to end, re-runs
after a crash or a power cut, batches where one board fails, bad input."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.vboards import SdkBoard
from sbdtools import cli, station
from sbdtools.provision import escrow, factorydb, labels
from sbdtools.vboard import store

PRODUCT = station.Product("Acme Sensor", "2031-12-31", "security@acme.example")


def _opts(tmp_path: Path, **kw: Any) -> station.Options:
    return station.Options(labels_dir=tmp_path / "labels", label_formats=("png",), keep_password=True, **kw)


def _on_board(board: SdkBoard | store.VBoard, script: str) -> str:
    vb = board.vb if isinstance(board, SdkBoard) else board
    from sbdtools.vboard import runner

    return runner.boot(vb, script=script).output


def _password_works(board: SdkBoard | store.VBoard, password: str) -> bool:
    out = _on_board(board, f"from sbd import auth\nprint('AUTH', auth.check({password!r}))")
    assert "AUTH " in out, out
    return "AUTH True" in out


class CuttingLink(station.VBoardLink):
    """A virtual board whose power is cut inside one step (a flash write of
    the factory record), or that fails on purpose at one step."""

    def __init__(self, name: str, *, cut_in_provision: int = 0, fail_self_test: bool = False) -> None:
        super().__init__(name)
        self.cut = cut_in_provision
        self.fail_self_test = fail_self_test

    def run(self, script: str, *, timeout: float = 60.0) -> dict[str, Any]:
        if self.cut and "provision.provision(" in script:
            # After the cut the board restarts and mpremote waits for output
            # that never comes: the time limit ends it, as for a real board.
            script = f"import vboard\nvboard.cut_after({self.cut})\n" + script
            timeout = 4.0
        if self.fail_self_test and "auth.check(" in script:
            raise station.ProvisionError(f"{self.name}: injected failure")
        return super().run(script, timeout=timeout)


def test_one_board_end_to_end(make_sdk_board: Callable[..., SdkBoard], tmp_path: Path) -> None:
    board = make_sdk_board("esp32", name="e1")
    db_path = tmp_path / "f.db"
    key = escrow.generate_key()
    with factorydb.open_db(str(db_path)) as db:
        (out,) = station.provision_many(
            station.VBoardLink, ["e1"], db, PRODUCT, _opts(tmp_path, escrow_key=key.public_key())
        )
        assert out.ok, out.error
        assert out.action == "new" and not out.sdk_deployed and out.password
        row = factorydb.get_board(db, out.unique_id or "")
        assert row is not None and row.state == "provisioned" and row.serial == out.serial
        assert escrow.recover_board(row, key).password == out.password
    assert out.unique_id == board.vb.uid.hex()
    assert [Path(p).name for p in out.labels] == [f"{out.serial}.png"]
    assert oct(Path(out.labels[0]).stat().st_mode & 0o777) == "0o600"
    # the label's QR code, read by a real decoder, carries what the board accepts
    import zxingcpp
    from PIL import Image

    (code,) = zxingcpp.read_barcodes(Image.open(out.labels[0]))
    fields = labels.parse_sbd1(code.text)
    assert (fields["S"], fields["P"], fields["M"]) == (out.serial, out.password, PRODUCT.model)
    assert _password_works(board, out.password or "")
    assert not _password_works(board, "wrong-password")
    # the database never holds the password itself
    assert (out.password or "").encode() not in db_path.read_bytes()
    with sqlite3.connect(db_path) as c:
        dump = "\n".join(c.iterdump())
    assert (out.password or "") not in dump


def test_a_bare_board_gets_the_sdk_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SBD_HOME", str(tmp_path / "home"))
    vb = store.create("bare", "pico_w")
    with factorydb.open_db(str(tmp_path / "f.db")) as db:
        (out,) = station.provision_many(station.VBoardLink, ["bare"], db, PRODUCT, _opts(tmp_path))
    assert out.ok and out.sdk_deployed, out.error
    assert _password_works(vb, out.password or "")


def test_already_provisioned_needs_reprovision(make_sdk_board: Callable[..., SdkBoard], tmp_path: Path) -> None:
    board = make_sdk_board(name="p1")
    with factorydb.open_db(str(tmp_path / "f.db")) as db:
        (first,) = station.provision_many(station.VBoardLink, ["p1"], db, PRODUCT, _opts(tmp_path))
        (again,) = station.provision_many(station.VBoardLink, ["p1"], db, PRODUCT, _opts(tmp_path))
        assert not again.ok and "--reprovision" in (again.error or "")
        assert _password_works(board, first.password or ""), "a refused re-run changes nothing"
        (redo,) = station.provision_many(station.VBoardLink, ["p1"], db, PRODUCT, _opts(tmp_path, reprovision=True))
        assert redo.ok and redo.action == "reprovision" and redo.serial == first.serial
        kinds = [e.kind for e in factorydb.events(db, first.unique_id)]
    assert "reprovision" in kinds
    assert redo.password != first.password
    assert not _password_works(board, first.password or "")
    assert _password_works(board, redo.password or "")


def test_a_record_this_database_does_not_know_is_not_replaced(
    make_sdk_board: Callable[..., SdkBoard], tmp_path: Path
) -> None:
    board = make_sdk_board(name="k1")
    with factorydb.open_db(str(tmp_path / "a.db")) as db:
        (first,) = station.provision_many(station.VBoardLink, ["k1"], db, PRODUCT, _opts(tmp_path))
    with factorydb.open_db(str(tmp_path / "b.db")) as other:
        (out,) = station.provision_many(station.VBoardLink, ["k1"], other, PRODUCT, _opts(tmp_path))
        assert not out.ok and "does not know" in (out.error or "")
        assert factorydb.get_board(other, first.unique_id or "") is None
    assert _password_works(board, first.password or "")


def test_failure_after_the_record_then_rerun_redoes_it(make_sdk_board: Callable[..., SdkBoard], tmp_path: Path) -> None:
    board = make_sdk_board(name="h1")
    with factorydb.open_db(str(tmp_path / "f.db")) as db:
        link = CuttingLink("h1", fail_self_test=True)
        try:
            with pytest.raises(station.ProvisionError, match="injected"):
                station.provision_board(link, db, PRODUCT, _opts(tmp_path))
        finally:
            link.close()
        uid = board.vb.uid.hex()
        row = factorydb.get_board(db, uid)
        assert row is not None and row.state == "failed" and "injected" in (row.result or "")
        assert not list((tmp_path / "labels").glob("*")), "no label for a board that failed"
        (out,) = station.provision_many(station.VBoardLink, ["h1"], db, PRODUCT, _opts(tmp_path))
        assert out.ok and out.action == "retry" and out.serial == row.serial
    assert _password_works(board, out.password or "")


@pytest.mark.parametrize("cut", [1, 3, 6])
def test_power_cut_while_the_record_is_written(
    make_sdk_board: Callable[..., SdkBoard], tmp_path: Path, cut: int
) -> None:
    board = make_sdk_board(name="c1")
    with factorydb.open_db(str(tmp_path / "f.db")) as db:
        link = CuttingLink("c1", cut_in_provision=cut)
        try:
            with pytest.raises(station.ProvisionError):
                station.provision_board(link, db, PRODUCT, _opts(tmp_path))
        finally:
            link.close()
        row = factorydb.get_board(db, board.vb.uid.hex())
        assert row is not None and row.state == "failed"
        (out,) = station.provision_many(station.VBoardLink, ["c1"], db, PRODUCT, _opts(tmp_path))
        assert out.ok, out.error
        assert out.serial == row.serial
    assert _password_works(board, out.password or "")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_batch_of_eight_one_failing_one_cut(
    make_sdk_board: Callable[..., SdkBoard], tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    url = str(tmp_path / "f.db") if backend == "sqlite" else str(request.getfixturevalue("pg_url"))
    names = [f"b{i}" for i in range(8)]
    boards = {n: make_sdk_board("esp32" if i % 2 else "pico_w", name=n) for i, n in enumerate(names)}

    def open_link(name: str) -> station.Link:
        return CuttingLink(name, fail_self_test=name == "b3", cut_in_provision=4 if name == "b5" else 0)

    seen: list[tuple[str, str]] = []
    with factorydb.open_db(url) as db:
        first = station.provision_many(
            open_link, names, db, PRODUCT, _opts(tmp_path), jobs=8, progress=lambda t, s: seen.append((t, s))
        )
        by = {o.target: o for o in first}
        assert not by["b3"].ok and not by["b5"].ok
        assert all(by[n].ok for n in names if n not in ("b3", "b5")), [o.error for o in first]
        assert len({o.serial for o in first} - {None}) == 8, "every board has its own serial, failed ones too"
        assert factorydb.counts(db).get("provisioned") == 6
        # the re-run finishes the two and refuses the six already done
        second = station.provision_many(station.VBoardLink, ["b3", "b5"], db, PRODUCT, _opts(tmp_path), jobs=2)
        assert all(o.ok for o in second), [o.error for o in second]
        assert factorydb.counts(db).get("provisioned") == 8
        rows = {r.unique_id: r for r in factorydb.list_boards(db)}
    assert ("b0", "self-test") in seen
    done = {o.target: o for o in first if o.ok} | {o.target: o for o in second}
    assert len({o.password for o in done.values()}) == 8, "no two boards share a password"
    for n in names:
        row = rows[boards[n].vb.uid.hex()]
        assert row.serial == done[n].serial and row.state == "provisioned"
        assert _password_works(boards[n], done[n].password or "")


def test_offline_image_boots_with_its_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sbdtools import boards, fsimage

    monkeypatch.setenv("SBD_HOME", str(tmp_path / "home"))
    vb = store.create("img", "pico_w")
    cfg = boards.load("pico_w")
    from sbdtools.mpytools import interpreter_mpy
    from sbdtools.vboard import runner

    arch = interpreter_mpy(runner.micropython_binary())[2]  # the virtual board runs x64 code
    with factorydb.open_db(str(tmp_path / "f.db")) as db:
        out = station.provision_image(tmp_path / "dev.img", db, cfg, vb.uid, PRODUCT, _opts(tmp_path), arch=arch)
    assert out.ok
    with open(vb.image, "r+b") as f:
        fsimage.place_in_flash(f, cfg, (tmp_path / "dev.img").read_bytes())
    assert _password_works(vb, out.password or "")
    other = store.create("other", "pico_w")
    with open(other.image, "r+b") as f:
        fsimage.place_in_flash(f, cfg, (tmp_path / "dev.img").read_bytes())
    assert "WrongBoard" in _on_board(other, "from sbd import identity\nidentity.load()")


# -- the CLI ------------------------------------------------------------------


def _sbd(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        cli.main(list(args))
    got = capsys.readouterr()
    return int(e.value.code or 0), got.out, got.err


BASE = ("--model", "Acme Sensor", "--support-end", "2031-12-31", "--disclosure", "security@acme.example")


def test_cli_json_never_shows_the_password_unless_asked(
    make_sdk_board: Callable[..., SdkBoard], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_sdk_board(name="j1")
    make_sdk_board(name="j2")
    code, out, err = _sbd(
        capsys,
        "provision",
        "--vboard",
        "j1",
        *BASE,
        "--db",
        str(tmp_path / "f.db"),
        "--new-db",
        "--labels",
        str(tmp_path / "l"),
        "--json",
    )
    assert code == 0, err
    (doc,) = json.loads(out)
    assert doc["ok"] and "password" not in doc
    code, out, err = _sbd(
        capsys,
        "provision",
        "--vboard",
        "j2",
        *BASE,
        "--db",
        str(tmp_path / "f.db"),
        "--labels",
        str(tmp_path / "l"),
        "--json",
        "--show-passwords",
    )
    assert code == 0, err
    (doc,) = json.loads(out)
    assert station.passwords.is_generated_form(doc["password"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--db", "mysql://x/y"), "database"),
        (("--db", "postgresql://sbd:sbd@127.0.0.1:1/sbd"), "cannot connect"),
        (("--db", "{tmp}/missing/f.db"), ""),
        (("--support-end", "31/12/2031"), "YYYY-MM-DD"),
        (("--port", "/dev/sbd-no-such-port", "--board", "pico_w"), "sbd doctor"),
    ],
)
def test_cli_bad_input_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    args = tuple(a.replace("{tmp}", str(tmp_path)) for a in args)
    base = dict(zip(BASE[::2], BASE[1::2], strict=True))
    base.update({"--db": str(tmp_path / "f.db"), "--labels": str(tmp_path / "l")})
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    target = () if "--port" in base else ("--vboard", "nope")
    argv = ["provision", *target, "--new-db"]
    for k, v in base.items():
        argv += [k, v]
    code, _, err = _sbd(capsys, *argv)
    assert code != 0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("sbd: "), err
    assert "Traceback" not in err
    assert message.lower() in err.lower(), err
    assert not os.path.exists(tmp_path / "l") or not list((tmp_path / "l").iterdir())


def test_cli_a_board_that_does_not_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A serial port with nothing behind it answering (a pty nobody serves).
    master, slave = os.openpty()
    try:
        code, _, err = _sbd(
            capsys,
            "provision",
            "--port",
            os.ttyname(slave),
            "--board",
            "pico_w",
            *BASE,
            "--db",
            str(tmp_path / "f.db"),
            "--new-db",
            "--labels",
            str(tmp_path / "l"),
            "--timeout",
            "3",
        )
    finally:
        os.close(master)
        os.close(slave)
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("sbd: ") and "did not answer within 3 s" in err, err
    with factorydb.open_db(str(tmp_path / "f.db")) as db:
        assert factorydb.counts(db).get("provisioned", 0) == 0
