"""Host-built filesystem images booted by real MicroPython, and back."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_ok

from sbdtools import fsimage
from sbdtools.vboard import runner, store


@pytest.mark.parametrize("board", ["pico_w", "pico2_w", "esp32", "esp32s3"])
def test_host_image_boots_and_board_writes_come_back(tmp_path: Path, board: str) -> None:
    src = tmp_path / "src"
    (src / "lib").mkdir(parents=True)
    (src / "main.py").write_text("import helper\nprint('MAIN', helper.VALUE)\n")
    (src / "lib" / "helper.py").write_text("VALUE = 'from a host-built image'\n")
    blob = bytes(range(256)) * 40
    (src / "data.bin").write_bytes(blob)

    vb = store.create("img", board, fs_from=src)
    res = runner.boot(vb)
    assert res.ended == runner.EXIT and not res.formatted, res.output
    assert "MAIN from a host-built image" in res.output
    check = run_ok(
        vb,
        "import hashlib, binascii\n"
        "print('SHA', binascii.hexlify(hashlib.sha256(open('data.bin','rb').read()).digest()))\n"
        "with open('written_on_board.txt', 'w') as f:\n f.write('hello host')",
    )
    import hashlib

    assert hashlib.sha256(blob).hexdigest() in check.output

    files = fsimage.read_image(fsimage.image_from_flash(vb.image.read_bytes(), vb.board), vb.board)
    assert files["written_on_board.txt"] == b"hello host"
    assert files["data.bin"] == blob
    assert files["lib/helper.py"].startswith(b"VALUE")


def test_bad_folder_creates_nothing(tmp_path: Path) -> None:
    from sbdtools.errors import SbdError

    src = tmp_path / "big"
    src.mkdir()
    (src / "huge.bin").write_bytes(b"\0" * (4 * 1024 * 1024))
    with pytest.raises(SbdError, match=r"huge\.bin"):
        store.create("img", "pico_w", fs_from=src)
    assert store.list_boards() == []
